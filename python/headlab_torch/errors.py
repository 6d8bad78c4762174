# Errors for model files, as the lab words them (src/model/errors.ts): which file, what is wrong with it, what to do.


class ModelFormatError(Exception):
    def __init__(self, file, problem, advice=''):
        super().__init__(f'{file}: {problem}{". " + advice if advice else ""}')
        self.file = file
        self.problem = problem
