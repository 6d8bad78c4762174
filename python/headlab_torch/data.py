# The lab's training data, bit for bit: its seeded generator (src/random.ts, mulberry32), the packing of documents into
# windows (src/train/data.ts packedWindows) and the batches drawn from them (WindowSampler: 'replacement' for end-to-end
# training, 'epochs' as DHA's layer-local training draws), with the same `next`-token targets, NO_TARGET and fillUnknown
# rules. Documents come from the lab itself: scripts/torch-tokens.mjs runs the lab's documentsFromArgs (the split flags,
# the tokenizer, BOS, the cut to the context) and writes them; `--tokens` files are read here as `headlab train` reads them.
import math
import os
import shutil
import subprocess
import tempfile

import torch

from .errors import ModelFormatError
from .safetensors import SafetensorsFile, write_safetensors

NO_TARGET = 0xFFFFFFFF
M32 = 0xFFFFFFFF


class UsageError(Exception):
    pass


def _imul(a, b):
    return (a * b) & M32


def seeded_random(seed):
    """A seeded uniform generator in [0, 1): mulberry32, as src/random.ts (the same seed gives the same draws)."""
    s = int(seed) & M32

    def draw():
        nonlocal s
        s = (s + 0x6D2B79F5) & M32
        t = s
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296

    return draw


class WindowSampler:
    """
    src/train/data.ts WindowSampler over documents: the stream of all documents (each BOS + tokens) cut into windows of
    seq_len tokens (a shorter stream: one window of all of it), each with the token after it (None after the last). The
    stream is one int64 tensor, so that a run of billions of tokens holds 8 bytes per token, not Python lists.
    """

    def __init__(self, docs, seq_len, seed, draw='replacement'):
        self.stream = torch.cat([torch.as_tensor(d, dtype=torch.int64).reshape(-1) for d in docs]) if len(docs) else torch.zeros(0, dtype=torch.int64)
        n = self.stream.numel()
        if n // seq_len:
            self.T, self._count = seq_len, n // seq_len
        elif n >= 2:
            self.T, self._count = n, 1
        else:
            raise UsageError('training needs at least two tokens of text')
        self.draw = draw
        self.random = seeded_random(seed)
        self.order = list(range(self._count))
        self.cursor = len(self.order)

    @property
    def count(self):
        return self._count

    def window(self, i):
        """(ids [T], next token or None)."""
        a = i * self.T
        b = a + self.T
        return self.stream[a:b], (int(self.stream[b]) if b < self.stream.numel() else None)

    def pick(self):
        if self.draw == 'replacement':
            return math.floor(self.random() * self._count)
        if self.cursor >= len(self.order):
            o = self.order
            for i in range(len(o) - 1, 0, -1):
                j = math.floor(self.random() * (i + 1))
                o[i], o[j] = o[j], o[i]
            self.cursor = 0
        self.cursor += 1
        return self.order[self.cursor - 1]

    def next_windows(self, size):
        """The next `size` windows' indices, in the order the lab draws them."""
        return [self.pick() for _ in range(size)]

    def batch(self, windows, fill_unknown):
        """ids [n, T] and targets [n, T] (int64) of the given windows; a position with no known next token gets NO_TARGET,
        or 0 with fill_unknown (losses that score every row, as KL)."""
        T = self.T
        ids = torch.empty(len(windows), T, dtype=torch.int64)
        targets = torch.empty(len(windows), T, dtype=torch.int64)
        for b, i in enumerate(windows):
            w, nxt = self.window(i)
            ids[b] = w
            targets[b, : T - 1] = w[1:]
            targets[b, T - 1] = nxt if nxt is not None else (0 if fill_unknown else NO_TARGET)
        return ids, targets

    def next(self, size, fill_unknown):
        """The lab's sampler.next(size, fillUnknown) as tensors [size, T]."""
        return self.batch(self.next_windows(size), fill_unknown)


def limit_tokens(docs, max_tokens):
    """The first max_tokens tokens of the documents (src/cli/train-command.ts limitTokens)."""
    if max_tokens is None:
        return docs
    out, n = [], 0
    for d in docs:
        if n >= max_tokens:
            break
        out.append(d[: max_tokens - n])
        n += min(len(d), max_tokens - n)
    return out


def documents_from_tokens(path, context):
    """`--tokens F.safetensors` as `headlab train` reads it: input_ids [N, T], each row a document cut to the context."""
    ids = SafetensorsFile(path).get_ids('input_ids') if os.path.exists(path) else None
    if ids is None:
        raise ModelFormatError(path, 'no such file')
    if ids.dim() != 2:
        raise ModelFormatError(path, f'"input_ids" has shape {list(ids.shape)}; expected [N, T]')
    return [row[:context] for row in ids]


def read_documents(path, prefix):
    """Documents written by scripts/torch-tokens.mjs: `<prefix>.ids` (all tokens) and `<prefix>.lengths`; None if absent.
    Each document is a 1-D int64 tensor (a view of one array: 8 bytes a token, not Python lists)."""
    f = SafetensorsFile(path)
    if f'{prefix}.ids' not in f.tensors:
        return None
    ids = f.get_ids(f'{prefix}.ids')
    lengths = f.get_ids(f'{prefix}.lengths').tolist()
    if sum(lengths) != ids.numel():
        raise ModelFormatError(path, f'{prefix}.lengths sum to {sum(lengths)} but {prefix}.ids holds {ids.numel()} tokens')
    return list(torch.split(ids, lengths)) if lengths else []


def write_documents(path, named):
    """named: {prefix: documents or None} → the format read_documents reads (int32 ids and lengths)."""
    tensors = []
    for prefix, docs in named.items():
        if docs is None:
            continue
        flat = torch.cat([torch.as_tensor(d, dtype=torch.int32).reshape(-1) for d in docs]) if docs else torch.zeros(0, dtype=torch.int32)
        tensors.append((f'{prefix}.ids', flat))
        tensors.append((f'{prefix}.lengths', torch.tensor([len(d) for d in docs], dtype=torch.int32)))
    write_safetensors(path, tensors, {'producer': 'headlab-torch'})


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELPER = os.path.join(ROOT, 'scripts', 'torch-tokens.mjs')


def lab_documents(model_path, flags, vocab, context):
    """
    Runs the lab's own tokenization (scripts/torch-tokens.mjs: documentsFromArgs of src/cli/model-commands.ts) on the lab's
    text flags (a list such as ['--text', F, '--split', 'blank-lines', '--eval-text', G]) and returns {'train': docs or
    None, 'eval': docs or None}.
    """
    node = os.environ.get('HEADLAB_NODE') or shutil.which('node')
    if not node:
        raise UsageError('--text needs Node.js (the lab tokenizes the text: scripts/torch-tokens.mjs); install Node 20.19+, or give --tokens / --docs files')
    with tempfile.TemporaryDirectory(prefix='headlab-torch-docs-') as tmp:
        out = os.path.join(tmp, 'docs.safetensors')
        cmd = [node, HELPER, model_path, '--vocab', str(vocab), '--context', str(context), *flags, '--out', out]
        r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            raise UsageError(msg[-1] if msg else f'scripts/torch-tokens.mjs exited with {r.returncode}')
        return {'train': read_documents(out, 'train'), 'eval': read_documents(out, 'eval')}
