# python -m headlab_torch (run through scripts/torch.sh, which finds a Python that imports torch):
#   info                                                    {python, torch, cuda} as JSON
#   logits MODEL --input ids.safetensors --out logits.safetensors [--dtype float32|float64] [--device cpu|cuda]
#       input_ids [B, T] (I32 or I64) → logits [B, T, V] F32: the contract of `headlab logits`.
#   train --student DIR [--teacher DIR] (--text F [split flags] | --tokens F | --docs F) --steps N --out DIR [--nproc N] …
#       `headlab train` in PyTorch, data parallel over processes (train.py); --json prints {curve: [{step, tokens, loss,
#       ppl}], …} as `headlab train --json` does.
#   random --seeds S[,S…] --count N                         the first N draws of the lab's seeded generator per seed, as JSON
import argparse
import json
import math
import platform
import sys

import torch

from .data import UsageError, seeded_random
from .errors import ModelFormatError
from .loaders import load_model
from .safetensors import SafetensorsFile, write_safetensors


def info(_args):
    print(json.dumps({'python': sys.executable, 'pythonVersion': platform.python_version(), 'torch': torch.__version__, 'cuda': torch.cuda.is_available()}))
    return 0


def logits(args):
    dtype = {'float32': torch.float32, 'float64': torch.float64}[args.dtype]
    device = torch.device(args.device)
    model = load_model(args.model).to(device=device, dtype=dtype).eval()
    ids = SafetensorsFile(args.input).get_ids('input_ids')
    if ids.dim() != 2:
        raise ModelFormatError(args.input, f'"input_ids" has shape {list(ids.shape)}; expected [N, T]')
    B, T = ids.shape
    V = model.config['vocab']
    if T > model.config['contextLength']:
        raise UsageError(f'input_ids has {T} positions; the model\'s context is {model.config["contextLength"]}')
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
        raise UsageError(f'input_ids holds ids outside 0 … {V - 1} (the model\'s vocabulary)')
    out = torch.empty(B, T, V, dtype=torch.float32)
    with torch.no_grad():
        for b in range(B):  # one sequence at a time, as `headlab logits` runs them
            out[b] = model(ids[b : b + 1].to(device))[0].to('cpu', torch.float32)
    write_safetensors(args.out, [('logits', out)], {'producer': 'headlab-torch'})
    return 0


def random_draws(args):
    out = {}
    for seed in args.seeds.split(','):
        draw = seeded_random(int(seed))
        out[seed] = [draw() for _ in range(args.count)]
    print(json.dumps(out))
    return 0


def train(args):
    from .train import train_command

    return train_command(args)


def _count(v, least=0):
    try:
        n = int(v)
    except ValueError:
        n = -1
    if n < least:
        raise argparse.ArgumentTypeError(f'"{v}" is not an integer ≥ {least}')
    return n


def _number(v):
    try:
        x = float(v)
    except ValueError:
        x = -1
    if not math.isfinite(x) or x < 0:
        raise argparse.ArgumentTypeError(f'"{v}" is not a non-negative number')
    return x


def _fraction(v):
    x = _number(v)
    if x > 1:
        raise argparse.ArgumentTypeError(f'"{v}" is not in [0, 1]')
    return x


def train_parser(sub):
    tr = sub.add_parser(
        'train',
        help='`headlab train` in PyTorch: the lab\'s recipe and batches, data parallel (DDP on CPU/gloo, FSDP on CUDA/nccl)',
        description="Continued training of a lab model with the lab's recipe and batches (src/cli/train-command.ts), data parallel.",
    )
    tr.add_argument('--student', required=True, help='the model to train: a llama2.c .bin, a Hugging Face folder, a headlab-dha / -mla folder')
    tr.add_argument('--teacher', help='the model distilled from (loss kl or mix)')
    tr.add_argument('--out', required=True, help='the folder to write (the format `headlab train` writes)')
    tr.add_argument('--tokenizer', help="a tokenizer file for --text (as the lab's --tokenizer)")
    for p in ('', 'eval-'):
        what = 'held-out text for perplexity' if p else 'training text'
        tr.add_argument(f'--{p}text', help=f'{what}, split into documents as the lab splits it (Node.js tokenizes it with the lab)')
        tr.add_argument(f'--{p}tokens', help=f'{what} as token ids: input_ids [N, T], one document per row (as the lab reads --{p}tokens)')
        tr.add_argument(f'--{p}split', help='endoftext (default) or blank-lines')
        for f in ('min-chars', 'skip-docs', 'max-docs'):
            tr.add_argument(f'--{p}{f}', help=f"the lab's --{p}{f}")
    tr.add_argument('--docs', help='documents written by scripts/torch-tokens.mjs (train.* and eval.*), for machines without Node.js')
    tr.add_argument('--max-tokens', type=_count, help='train on the first N tokens of the documents')
    tr.add_argument('--steps', type=_count, required=True)
    tr.add_argument('--lr', type=_number, help='peak learning rate (1e-3 for all weights, 2e-3 for attention or kv)')
    tr.add_argument('--params', choices=['all', 'attention', 'kv'], help='which weights train (default all)')
    tr.add_argument('--loss', choices=['kl', 'ce', 'mix'], help='kl with a teacher (default), else ce')
    tr.add_argument('--kl-weight', type=_fraction, help="mix: KL's weight (default 0.5)")
    tr.add_argument('--batch', type=lambda v: _count(v, 1), help='sequences per step, over all processes (default 32)')
    tr.add_argument('--seq', type=lambda v: _count(v, 2), help='positions per sequence (default 128, cut to the context)')
    tr.add_argument('--schedule', choices=['constant', 'cosine'])
    tr.add_argument('--warmup', type=_count, help='steps of linear warm-up')
    tr.add_argument('--min-lr', type=_fraction, help='cosine: the floor as a share of --lr (default 0.1)')
    tr.add_argument('--weight-decay', type=_number, help='decoupled weight decay on matrices (default 0)')
    tr.add_argument('--clip', type=_number, help='largest global gradient norm (default 0: none)')
    tr.add_argument('--eval-every', type=_count, help='held-out perplexity every N steps (and after the last)')
    tr.add_argument('--seed', type=_count, default=1, help='the batches\' seed (default 1)')
    tr.add_argument('--nproc', type=lambda v: _count(v, 1), default=1, help='processes to start on this machine (not under torchrun)')
    tr.add_argument('--micro-batch', type=lambda v: _count(v, 1), help="sequences per forward in each process (default: its whole share)")
    tr.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto', help='auto: CUDA where torch sees it')
    tr.add_argument('--strategy', choices=['auto', 'ddp', 'fsdp'], default='auto', help='auto: FSDP on CUDA where it imports, else DDP')
    tr.add_argument('--checkpoint', action='store_true', help='activation checkpointing: keep each layer\'s input only, recompute it in the backward')
    tr.add_argument('--bf16', action='store_true', help='FSDP only: compute in bfloat16 (weights, reductions and AdamW stay float32)')
    tr.add_argument('--threads', type=lambda v: _count(v, 1), help='CPU threads per process (default: cores / processes)')
    tr.add_argument('--json', action='store_true', help='print the result as JSON (the shape of `headlab train --json`)')
    tr.set_defaults(run=train)


def main(argv=None):
    p = argparse.ArgumentParser(prog='scripts/torch.sh', description="headlab's models in PyTorch: the lab's logits, from the lab's files.")
    sub = p.add_subparsers(dest='command', required=True)
    sub.add_parser('info', help='the Python and torch this runs on, as JSON').set_defaults(run=info)
    lg = sub.add_parser('logits', help='logits [B, T, V] F32 for input_ids [B, T] (I32 or I64), as `headlab logits`')
    lg.add_argument('model', help='a llama2.c .bin, a Hugging Face folder, or a headlab-dha / headlab-mla folder')
    lg.add_argument('--input', required=True, help='safetensors with input_ids [B, T]')
    lg.add_argument('--out', required=True, help='safetensors to write logits [B, T, V] to')
    lg.add_argument('--dtype', choices=['float32', 'float64'], default='float32', help='what the forward computes in (default float32)')
    lg.add_argument('--device', default='cpu', help='torch device (default cpu)')
    lg.set_defaults(run=logits)
    train_parser(sub)
    rd = sub.add_parser('random', help="the first draws of the lab's seeded generator (src/random.ts), as JSON")
    rd.add_argument('--seeds', required=True, help='one seed or several, comma-separated')
    rd.add_argument('--count', type=lambda v: _count(v, 1), default=8)
    rd.set_defaults(run=random_draws)
    args = p.parse_args(argv)
    try:
        return args.run(args)
    except ModelFormatError as e:
        print(f'headlab-torch: {e}', file=sys.stderr)
        return 1
    except UsageError as e:
        print(f'headlab-torch: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
