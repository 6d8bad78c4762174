// Errors for model files: which file, what is wrong with it, and what to do. Loaders throw only these for bad input.

export class ModelFormatError extends Error {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string, advice = '') {
    super(`${file}: ${problem}${advice ? `. ${advice}` : ''}`);
    this.name = 'ModelFormatError';
    this.file = file;
    this.problem = problem;
  }
}

/** The model is valid but does not fit this GPU: which tensor or total, how many bytes, which limit. */
export class ModelTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelTooLargeError';
  }
}

/** A cancelled load: not an error to show in red. */
