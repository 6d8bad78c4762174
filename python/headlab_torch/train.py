# Recovery training with the lab's recipe, data parallel over processes: `headlab train` (src/cli/train-command.ts,
# src/train/trainer.ts) in PyTorch. The same windows of the same text in the same order for the same seed (data.py), KL
# distillation per token from a teacher (or next-token CE, or a mix), the loss summed over rows and divided by the step's
# scored rows, AdamW with decay on matrices only (src/train/params.ts), the lab's learning-rate schedule, global-norm
# clipping; held-out perplexity as src/eval/perplexity.ts counts it; the result written as the lab writes it (export.py).
#
# Processes: torchrun's (RANK/WORLD_SIZE in the environment), or --nproc N started here (torch.multiprocessing spawn, one
# machine), or one. Every process draws the step's whole batch from the same seeded sampler and trains on its contiguous
# share; each scales its loss sum by world/scored so that DDP's (or FSDP's) gradient mean is the gradient of the lab's
# batch loss. CPU: DDP over gloo. CUDA: FSDP (full shard, one unit per layer) over nccl when torch's FSDP imports and
# supports use_orig_params (PyTorch ≥ 2.0), else DDP over nccl. The FSDP path has not been run by the tests (no GPU there).
import contextlib
import functools
import math
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .data import NO_TARGET, UsageError, WindowSampler, documents_from_tokens, lab_documents, limit_tokens, read_documents
from .errors import ModelFormatError
from .export import export_model, model_hash, tokenizer_files_of
from .loaders import load_model
from .model import Layer

TRAIN_DEFAULTS = {
    'steps': 100,
    'batch': 32,
    'seqLen': 128,
    'lr': 1e-3,
    'schedule': 'constant',
    'warmupSteps': 0,
    'minLrFraction': 0.1,
    'weightDecay': 0,
    'clip': 0,
    'beta1': 0.9,
    'beta2': 0.999,
    'params': 'all',
    'loss': 'kl',
    'klWeight': 0.5,
    'seed': 1,
    'evalEvery': 0,
}
EPS = 1e-8  # the lab's AdamW ε (src/gpu/kernels/optimizer.ts)


def default_learning_rate(params):
    """The lab's defaults: 1e-3 when every weight trains, 2e-3 for the attention or K/V only."""
    return 1e-3 if params == 'all' else 2e-3


def learning_rate(o, s):
    """The learning rate at step s (1-based): src/train/trainer.ts learningRate."""
    if o['warmupSteps'] > 0 and s <= o['warmupSteps']:
        return o['lr'] * s / o['warmupSteps']
    if o['schedule'] == 'constant':
        return o['lr']
    span = max(1, o['steps'] - o['warmupSteps'])
    progress = min(1, (s - o['warmupSteps']) / span)
    floor = o['lr'] * o['minLrFraction']
    return floor + 0.5 * (o['lr'] - floor) * (1 + math.cos(math.pi * progress))


# -- what trains (src/train/params.ts), under this package's parameter names --

LAYER_WEIGHTS = [
    'attnNorm.weight', 'attnNorm.bias', 'mlpNorm.weight', 'mlpNorm.bias',
    'attn.wq', 'attn.wk', 'attn.wv', 'attn.wo', 'attn.bq', 'attn.bk', 'attn.bv', 'attn.bo',
    'latent.wdkv', 'latent.wuk', 'latent.wkr', 'latent.wuv',
    'mlp.gate', 'mlp.gateBias', 'mlp.up', 'mlp.upBias', 'mlp.down', 'mlp.downBias',
]
LATENT = {'latent.wdkv', 'latent.wuk', 'latent.wkr', 'latent.wuv'}
ATTENTION = {'attn.wq', 'attn.wk', 'attn.wv', 'attn.wo', 'attn.bq', 'attn.bk', 'attn.bv', 'attn.bo'} | LATENT
KV = {'attn.wk', 'attn.wv', 'attn.bk', 'attn.bv'} | LATENT
MATRICES = {'attn.wq', 'attn.wk', 'attn.wv', 'attn.wo', 'mlp.gate', 'mlp.up', 'mlp.down'} | LATENT


def trainable_names(model, params):
    """(name, decay) of the weights a set trains, in the lab's optimizer order; empty tensors never train."""
    have = {n: p for n, p in model.named_parameters() if p.numel()}
    out = []
    if params == 'all':
        out.append(('embed', True))
        if 'positionEmbed' in have:
            out.append(('positionEmbed', True))
    for i in range(len(model.layers)):
        for w in LAYER_WEIGHTS:
            if f'layers.{i}.{w}' in have and (params == 'all' or w in (ATTENTION if params == 'attention' else KV)):
                out.append((f'layers.{i}.{w}', w in MATRICES))
    if params == 'all':
        out.append(('finalNorm.weight', False))
        for n, decay in (('finalNorm.bias', False), ('lmHead', True), ('lmHeadBias', False)):
            if n in have:
                out.append((n, decay))
    return out


def row_losses(logits, teacher, targets, kl_weight):
    """Per row: klWeight·KL(teacher ‖ student) + (1 − klWeight)·CE, 0 where the target is NO_TARGET (shaders/loss.wgsl)."""
    V = logits.shape[-1]
    logp = F.log_softmax(logits.float(), -1)
    scored = targets != NO_TARGET
    loss = torch.zeros(targets.shape, dtype=torch.float32, device=logits.device)
    if kl_weight > 0:
        logq = F.log_softmax(teacher.float(), -1)
        loss = loss + kl_weight * (logq.exp() * (logq - logp)).sum(-1)
    if kl_weight < 1:
        t = torch.where(scored, targets, torch.zeros_like(targets)).clamp(max=V - 1)
        loss = loss - (1 - kl_weight) * logp.gather(-1, t.unsqueeze(-1)).squeeze(-1)
    return torch.where(scored, loss, torch.zeros_like(loss))


# -- processes --


class Dist:
    """This process's place: rank, world, device, strategy ('single', 'ddp', 'fsdp')."""

    def __init__(self, rank, world, local_rank, local_world, device, strategy):
        self.rank, self.world, self.local_rank, self.local_world = rank, world, local_rank, local_world
        self.device, self.strategy = device, strategy

    @property
    def main(self):
        return self.rank == 0

    def sum(self, x):
        """Σ over processes of a float (float64 on the wire)."""
        if self.world == 1:
            return x
        t = torch.tensor([x], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t[0])

    def broadcast(self, obj):
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def fsdp_modules():
    """torch's FSDP pieces, or None where they do not import or lack use_orig_params (PyTorch < 2.0; Debian's 1.13 fails)."""
    try:
        import inspect

        from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel, MixedPrecision, ShardingStrategy, StateDictType
        from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

        if 'use_orig_params' not in inspect.signature(FullyShardedDataParallel.__init__).parameters:
            return None
        return dict(FSDP=FullyShardedDataParallel, FullStateDictConfig=FullStateDictConfig, MixedPrecision=MixedPrecision, ShardingStrategy=ShardingStrategy, StateDictType=StateDictType, policy=transformer_auto_wrap_policy)
    except Exception:
        return None


def choose_strategy(args, device, world):
    if world == 1:
        return 'single'
    want = args.strategy
    if want == 'fsdp' or (want == 'auto' and device.type == 'cuda'):
        if device.type == 'cuda' and fsdp_modules() is not None:
            return 'fsdp'
        if want == 'fsdp':
            raise UsageError('--strategy fsdp needs CUDA and a PyTorch whose FSDP imports with use_orig_params (2.0 or newer)')
    return 'ddp'


def setup(rank, world, args, init_method):
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    local_world = int(os.environ.get('LOCAL_WORLD_SIZE', world))
    cuda = args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        raise UsageError('--device cuda: torch sees no CUDA device')
    if cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device('cuda', local_rank)
    else:
        device = torch.device('cpu')
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // local_world))
    if world > 1:
        dist.init_process_group('nccl' if cuda else 'gloo', init_method=init_method, rank=rank, world_size=world)
    return Dist(rank, world, local_rank, local_world, device, choose_strategy(args, device, world))


# -- documents --

SPLIT = ['split', 'min-chars', 'skip-docs', 'max-docs']


def prepare_documents(args, config):
    """{'train': docs, 'eval': docs or None} from --text / --tokens / --docs and their eval- forms, as `headlab train` reads them."""
    flags = []
    for prefix in ('', 'eval_'):
        text, tokens = getattr(args, f'{prefix}text'), getattr(args, f'{prefix}tokens')
        if text and tokens:
            p = prefix.replace('_', '-')
            raise UsageError(f'give one of --{p}text F or --{p}tokens F.safetensors, not both')
        if text:
            flags += [f'--{prefix.replace("_", "-")}text', text]
            for s in SPLIT:
                v = getattr(args, (prefix + s).replace('-', '_'))
                if v is not None:
                    flags += [f'--{prefix.replace("_", "-")}{s}', v]
    if flags and args.tokenizer:
        flags += ['--tokenizer', args.tokenizer]
    from_text = lab_documents(args.student, flags, config['vocab'], config['contextLength']) if flags else {'train': None, 'eval': None}
    from_docs = {'train': read_documents(args.docs, 'train'), 'eval': read_documents(args.docs, 'eval')} if args.docs else {'train': None, 'eval': None}
    train = from_text['train'] or (documents_from_tokens(args.tokens, config['contextLength']) if args.tokens else None) or from_docs['train'] or []
    evals = from_text['eval'] if args.eval_text else documents_from_tokens(args.eval_tokens, config['contextLength']) if args.eval_tokens else from_docs['eval']
    train = limit_tokens(train, args.max_tokens)
    if not train:
        raise UsageError('train needs training text: --text F or --tokens F.safetensors (with at least one document)')
    return {'train': train, 'eval': evals}


# -- evaluation --


@torch.no_grad()
def perplexity(forward, docs, d, context, lockstep, batch=16):
    """src/eval/perplexity.ts: documents longest first in groups of `batch`, padded; exp(Σ NLL / predicted tokens). Groups are
    dealt to the processes in turn; with FSDP (lockstep) every process runs the same number of forwards."""
    longest = min(context, max([2] + [len(x) for x in docs]))
    B = max(1, min(batch, len(docs)))
    order = sorted((x[:longest] for x in docs), key=len, reverse=True)  # stable, as Array.prototype.sort
    groups = [order[g : g + B] for g in range(0, len(order), B)]
    mine = groups[d.rank :: d.world]
    rounds = math.ceil(len(groups) / d.world) if lockstep else len(mine)
    nll = 0.0
    for r in range(rounds):
        if r >= len(mine):
            forward(torch.zeros(1, 2, dtype=torch.int64, device=d.device))  # FSDP's all-gathers need every process
            continue
        group = mine[r]
        T = len(group[0])
        ids = torch.zeros(len(group), T, dtype=torch.int64)
        targets = torch.full((len(group), T), NO_TARGET, dtype=torch.int64)
        for b, x in enumerate(group):
            ids[b, : len(x)] = torch.as_tensor(x)
            targets[b, : len(x) - 1] = torch.as_tensor(x[1:])
        ids, targets = ids.to(d.device), targets.to(d.device)
        nll += float(row_losses(forward(ids), None, targets, 0).sum(dtype=torch.float64))
    tokens = sum(len(x) - 1 for x in order)
    return math.exp(d.sum(nll) / tokens)


# -- the run --


def options_from_args(args):
    """The settings given on the command line, under the lab's TrainOptions names (only those given, as the lab records them)."""
    given = {
        'steps': args.steps,
        'lr': args.lr,
        'params': args.params,
        'loss': args.loss,
        'klWeight': args.kl_weight,
        'batch': args.batch,
        'seqLen': args.seq,
        'schedule': args.schedule,
        'warmupSteps': args.warmup,
        'minLrFraction': args.min_lr,
        'weightDecay': args.weight_decay,
        'clip': args.clip,
        'evalEvery': args.eval_every,
    }
    return {k: v for k, v in given.items() if v is not None}


def _log(d, msg):
    if d.main:
        print(msg, file=sys.stderr, flush=True)


def run(rank, world, args, init_method):
    d = setup(rank, world, args, init_method)
    try:
        return _run(d, args)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _run(d, args):
    t_start = time.perf_counter()
    given = options_from_args(args)
    given['seed'] = args.seed
    if 'loss' not in given:
        given['loss'] = 'kl' if args.teacher else 'ce'
    if given['loss'] != 'ce' and not args.teacher:
        raise UsageError(f'--loss {given["loss"]} distils from a teacher: give --teacher MODEL, or use --loss ce')
    o = {**TRAIN_DEFAULTS, 'lr': default_learning_rate(given.get('params', 'all')), **given}
    kl_weight = 1 if o['loss'] == 'kl' else 0 if o['loss'] == 'ce' else o['klWeight']

    student = load_model(args.student)
    source_hash = model_hash(student) if d.main else None
    teacher_info = None
    teacher = None
    if args.teacher:
        tm = load_model(args.teacher)
        teacher_info = {'name': os.path.basename(os.path.normpath(args.teacher)), 'modelHash': model_hash(tm) if d.main else None}
        if kl_weight > 0:
            if tm.config['vocab'] != student.config['vocab']:
                raise UsageError(f"the teacher's vocabulary ({tm.config['vocab']}) is not the student's ({student.config['vocab']})")
            teacher = tm.eval().requires_grad_(False)
        else:
            del tm
    c = student.config

    # The documents: text is tokenized once (by the lab, on the first process) and sent to the others; files (--tokens,
    # --docs) are read by every process itself.
    if args.text or args.eval_text:
        box = failure = None
        if d.main:
            try:
                box = {'docs': prepare_documents(args, c)}
            except (UsageError, ModelFormatError) as e:
                box, failure = {'error': str(e)}, e
        box = d.broadcast(box)
        if 'error' in box:
            raise failure or UsageError(box['error'])
        docs = box['docs']
    else:
        docs = prepare_documents(args, c)
    sampler = WindowSampler(docs['train'], min(o['seqLen'], c['contextLength']), o['seed'])
    T = sampler.T
    B = o['batch']
    if B % d.world:
        raise UsageError(f'--batch {B} must be a multiple of the {d.world} processes (each trains an equal share of every batch)')
    share = B // d.world
    micro = args.micro_batch or share
    if share % micro:
        raise UsageError(f'--micro-batch {micro} must divide the {share} sequences of each process')

    # What trains.
    names = trainable_names(student, o['params'])
    train_set = dict(names)
    for n, p in student.named_parameters():
        p.requires_grad_(n in train_set)
    trained_values = sum(p.numel() for n, p in student.named_parameters() if n in train_set)
    student_values = sum(p.numel() for p in student.parameters())
    teacher_values = sum(p.numel() for p in teacher.parameters()) if teacher is not None else 0
    if d.strategy != 'fsdp':  # FSDP moves each process's shard itself (device_id): the whole model never sits on one GPU
        student.to(d.device)
        if teacher is not None:
            teacher.to(d.device)
    model = student
    if d.strategy == 'ddp':
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(student, device_ids=[d.device.index] if d.device.type == 'cuda' else None, broadcast_buffers=False)
    elif d.strategy == 'fsdp':
        fs = fsdp_modules()
        wrap = dict(
            auto_wrap_policy=functools.partial(fs['policy'], transformer_layer_cls={Layer}),
            sharding_strategy=fs['ShardingStrategy'].FULL_SHARD,
            device_id=d.device,
            use_orig_params=True,
        )
        if args.bf16:
            wrap['mixed_precision'] = fs['MixedPrecision'](param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        model = fs['FSDP'](student, **wrap)
        if teacher is not None:
            teacher = fs['FSDP'](teacher, **wrap)
        if args.checkpoint:  # inside each FSDP unit, as PyTorch's FSDP recipes do
            from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointImpl, apply_activation_checkpointing, checkpoint_wrapper

            impl = functools.partial(checkpoint_wrapper, checkpoint_impl=CheckpointImpl.NO_REENTRANT)
            apply_activation_checkpointing(model, checkpoint_wrapper_fn=impl, check_fn=lambda m: isinstance(m, Layer))
    if args.checkpoint and d.strategy != 'fsdp':
        student.checkpoint_layers = True

    def clean(n):  # the name under the wrapper
        n = n.replace('_fsdp_wrapped_module.', '').replace('_checkpoint_wrapped_module.', '')
        return n[len('module.') :] if d.strategy == 'ddp' and n.startswith('module.') else n

    params = {clean(n): p for n, p in model.named_parameters()}
    decay = [params[n] for n, dec in names if dec]
    plain = [params[n] for n, dec in names if not dec]
    trainables = decay + plain
    opt = torch.optim.AdamW(
        [{'params': decay, 'weight_decay': o['weightDecay']}, {'params': plain, 'weight_decay': 0.0}],
        lr=o['lr'],
        betas=(o['beta1'], o['beta2']),
        eps=EPS,
    )
    raw = model if d.strategy == 'fsdp' else student  # what evaluation runs (FSDP must run its wrapper, in lockstep)
    evals = docs['eval']

    def evaluate():
        if not evals:
            return None
        model.eval()
        try:
            return perplexity(raw, evals, d, c['contextLength'], d.strategy == 'fsdp')
        finally:
            model.train()

    _log(d, f'headlab-torch train: {d.world} process{"es" if d.world > 1 else ""} ({d.strategy}, {d.device.type}), {o["steps"]} steps of {B} × {T} tokens, loss {o["loss"]}, params {o["params"]}')
    curve = [{'step': 0, 'tokens': 0, 'loss': None, 'ppl': evaluate()}]
    tokens = 0
    train_seconds = 0.0
    model.train()
    for step in range(1, o['steps'] + 1):
        s0 = time.perf_counter()
        lr = learning_rate(o, step)
        for g in opt.param_groups:
            g['lr'] = lr
        opt.zero_grad(set_to_none=True)
        ids, targets = sampler.next(B, kl_weight == 1)
        scored = int((targets != NO_TARGET).sum())
        ids, targets = ids[d.rank * share : (d.rank + 1) * share].to(d.device), targets[d.rank * share : (d.rank + 1) * share].to(d.device)
        local = 0.0
        for m0 in range(0, share, micro):
            last = m0 + micro >= share
            sync = contextlib.nullcontext() if last or d.world == 1 else model.no_sync()
            with sync:
                x, y = ids[m0 : m0 + micro], targets[m0 : m0 + micro]
                with torch.no_grad():
                    t_logits = teacher(x) if teacher is not None else None
                rows = row_losses(model(x), t_logits, y, kl_weight)
                (rows.sum() * (d.world / scored)).backward()  # DDP/FSDP average over processes: × world gives the sum
                local += float(rows.detach().sum(dtype=torch.float64))
        loss = d.sum(local) / scored
        # Global-norm clipping as shaders/adam.wgsl: scale min(1, clip/‖g‖), ‖g‖ over every trained tensor.
        sq = sum(float(p.grad.detach().double().pow(2).sum()) for p in trainables if p.grad is not None)
        norm = math.sqrt(d.sum(sq) if d.strategy == 'fsdp' else sq)
        if o['clip'] > 0 and norm > o['clip']:
            for p in trainables:
                if p.grad is not None:
                    p.grad.mul_(o['clip'] / norm)
        opt.step()
        tokens += B * T
        train_seconds += time.perf_counter() - s0
        ppl = None
        if step == o['steps'] or (o['evalEvery'] > 0 and step % o['evalEvery'] == 0):
            ppl = evaluate()
        curve.append({'step': step, 'tokens': tokens, 'loss': loss, 'ppl': ppl})
        _log(d, f'train {step}/{o["steps"]}: loss {loss:.4f}{"" if ppl is None else f", perplexity {ppl:.3f}"}, ‖g‖ {norm:.4g}, lr {lr:.3g}')

    # The trained weights, whole, on the first process.
    if d.strategy == 'fsdp':
        fs = fsdp_modules()
        cfg = fs['FullStateDictConfig'](offload_to_cpu=True, rank0_only=True)
        with fs['FSDP'].state_dict_type(model, fs['StateDictType'].FULL_STATE_DICT, cfg):
            state = model.state_dict()
        final = None
        if d.main:
            final = load_model(args.student)
            final.load_state_dict({k.replace('_fsdp_wrapped_module.', '').replace('_checkpoint_wrapped_module.', ''): v for k, v in state.items()})
    else:
        final = student.to('cpu') if d.main else None
    shard = d.world if d.strategy == 'fsdp' else 1  # bytes per process: FSDP shards them all, DDP holds them whole
    memory = {
        'weights': 4 * student_values // shard,
        'teacher': 4 * teacher_values // shard,
        'gradients': 4 * trained_values // shard,
        'optimizer': 8 * trained_values // shard,
    }
    memory['total'] = sum(memory.values())
    summary = {
        'steps': o['steps'],
        'tokens': tokens,
        'loss': o['loss'],
        'params': o['params'],
        'pplBefore': curve[0]['ppl'],
        'pplAfter': curve[-1]['ppl'],
        'evalTokens': sum(len(x) - 1 for x in evals) if evals is not None else None,
        'seconds': time.perf_counter() - t_start,
        'tokensPerSecond': tokens / train_seconds if train_seconds > 0 else 0,
        'memory': memory,
        'microBatch': micro,
        'processes': d.world,
        'strategy': d.strategy,
        'device': d.device.type,
        'curve': curve,
    }
    if d.device.type == 'cuda':
        summary['peakBytes'] = torch.cuda.max_memory_allocated(d.device)
    result = None
    if d.main:
        experiment = {
            'producer': 'headlab-torch train',
            'source': {'name': os.path.basename(os.path.normpath(args.student)), 'modelHash': source_hash},
            'teacher': teacher_info,
            'seed': o['seed'],
            'options': given,
            **summary,
            'adapter': f'PyTorch {torch.__version__} on {d.device.type}, {d.world} process{"es" if d.world > 1 else ""} ({d.strategy})',
        }
        files = export_model(final, args.out, tokenizer_files_of(args.student, args.tokenizer), experiment)
        result = {**summary, 'out': args.out, 'files': files}
    if d.world > 1:
        dist.barrier()
    return result


def _spawned(rank, world, args, init_method):
    """One process of --nproc N: errors are reported by the first process only, as one line."""
    code = 0
    try:
        report(run(rank, world, args, init_method), args)
    except (UsageError, ModelFormatError) as e:
        if rank == 0:
            print(f'headlab-torch: {e}', file=sys.stderr, flush=True)
        code = 2 if isinstance(e, UsageError) else 1
    sys.stdout.flush()
    if code:
        sys.exit(code)


def report(result, args):
    if result is None:
        return
    if args.json:
        import json

        print(json.dumps(result), flush=True)
    else:
        ppl = f'; perplexity {result["pplBefore"]:.3f} → {result["pplAfter"]:.3f}' if result['pplBefore'] is not None else ''
        print(
            f'trained {result["steps"]} steps ({result["tokens"]} tokens, {result["tokensPerSecond"]:.0f} tokens/s; '
            f'{result["processes"]} process{"es" if result["processes"] > 1 else ""}, {result["strategy"]}){ppl}; wrote {", ".join(result["files"])} to {result["out"]}',
            flush=True,
        )


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_command(args):
    """Entry of `scripts/torch.sh train`: under torchrun, as one of its processes; else --nproc processes started here."""
    if 'RANK' in os.environ and 'WORLD_SIZE' in os.environ:
        report(run(int(os.environ['RANK']), int(os.environ['WORLD_SIZE']), args, 'env://'), args)
        return 0
    if args.nproc > 1:
        import argparse

        import torch.multiprocessing as mp

        args = argparse.Namespace(**{k: v for k, v in vars(args).items() if k != 'run'})  # picklable for the new processes

        try:
            mp.spawn(_spawned, args=(args.nproc, args, f'tcp://127.0.0.1:{_free_port()}'), nprocs=args.nproc, join=True)
        except mp.ProcessExitedException as e:
            return e.exit_code if e.exit_code and e.exit_code > 0 else 1
        return 0
    report(run(0, 1, args, None), args)
    return 0
