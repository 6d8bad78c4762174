# python -m headlab_torch (run through scripts/torch.sh, which finds a Python that imports torch):
#   info                                                    {python, torch, cuda} as JSON
#   logits MODEL --input ids.safetensors --out logits.safetensors [--dtype float32|float64] [--device cpu|cuda]
#       input_ids [B, T] (I32 or I64) → logits [B, T, V] F32: the contract of `headlab logits`.
import argparse
import json
import platform
import sys

import torch

from .errors import ModelFormatError
from .loaders import load_model
from .safetensors import SafetensorsFile, write_safetensors


class UsageError(Exception):
    pass


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
