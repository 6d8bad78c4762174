# One PyTorch model for every model the lab reads: the family-free Model of src/model/types.ts as an nn.Module. Its
# forward is src/reference/transformer.ts `forwardRef` (the lab's float64 CPU reference, the spec): per-layer K and V head
# maps (MHA, GQA, DHA's decoupled maps), the latent KV cache (MLA: W_dkv → latent, W_uk position-free key dims, W_kr kept
# rotary dims, W_uv values; RoPE only on the kept pairs, queries following the K head they read), rotary (interleaved or
# rotate-half, partial) or learned positions, RMSNorm or LayerNorm, SwiGLU or GELU, sequential or parallel residual, local
# windows and the attention scale. Parameter names are the lab's `tensorsOf` names (embed, layers.0.attn.wq, …,
# layers.0.latent.wdkv, finalNorm.weight, lmHead), so a state_dict reads like a headlab-dha/-mla model.safetensors. Each
# layer is a module with its own forward, so that FSDP can shard the model layer by layer (train.py).
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .rotary import pair_dims, rotary_dims, rotary_pairs, rotary_tables

# scaled_dot_product_attention with a `scale` argument: PyTorch 2.1 and newer.
FUSED_ATTENTION = hasattr(F, 'scaled_dot_product_attention') and tuple(int(x) for x in torch.__version__.split('.')[:2] if x.isdigit()) >= (2, 1)


class _Weights(nn.Module):
    """A named set of parameters; absent (optional) ones are None."""

    def __init__(self, tensors):
        super().__init__()
        for name, t in tensors.items():
            self.register_parameter(name, None if t is None else nn.Parameter(t))


def latent_columns(c, kheads, rope_pairs):
    """Per full key column (kHeads·headDim), its column in cat([latent part, rotary part]) (src/model/latent.ts)."""
    dh = c['headDim']
    r2 = 2 * (len(rope_pairs[0]) if rope_pairs else 0)
    nope = dh - r2
    index = [0] * (kheads * dh)
    for h, pairs in enumerate(rope_pairs):
        rope = sorted(d for p in pairs for d in pair_dims(c, p))
        kept = set(rope)
        for i, d in enumerate(d for d in range(dh) if d not in kept):
            index[h * dh + d] = h * nope + i
        for i, d in enumerate(rope):
            index[h * dh + d] = kheads * nope + h * r2 + i
    return torch.tensor(index, dtype=torch.long), nope, r2


def rotary_index(c):
    """The dims of a head as [first dims of the pairs | second dims | dims that do not rotate], and the inverse order."""
    half = rotary_dims(c) // 2
    i0 = [pair_dims(c, p)[0] for p in range(half)]
    i1 = [pair_dims(c, p)[1] for p in range(half)]
    rest = [d for d in range(c['headDim']) if d not in set(i0 + i1)]
    perm = torch.tensor(i0 + i1 + rest, dtype=torch.long)
    return torch.tensor(i0, dtype=torch.long), torch.tensor(i1, dtype=torch.long), torch.tensor(rest, dtype=torch.long), torch.argsort(perm)


class Layer(nn.Module):
    """One transformer layer; its forward is the layer loop body of forwardRef (a module of its own, so FSDP can shard it)."""

    def __init__(self, c, li, kv, latent, w):
        super().__init__()
        self.config, self.li = c, li
        D, H, dh, Fd = c['dim'], c['heads'], c['headDim'], c['ffnDim']
        kh, vh = kv['kHeads'], kv['vHeads']
        if len(kv['kHeadOf']) != H or len(kv['vHeadOf']) != H:
            raise ValueError(f'head maps must have {H} entries')
        if any(not 0 <= k < kh for k in kv['kHeadOf']) or any(not 0 <= v < vh for v in kv['vHeadOf']):
            raise ValueError(f'head maps point past its {kh} K / {vh} V heads')
        self.kheads, self.vheads = kh, vh
        self.register_buffer('k_head_of', torch.tensor(kv['kHeadOf'], dtype=torch.long), persistent=False)
        self.register_buffer('v_head_of', torch.tensor(kv['vHeadOf'], dtype=torch.long), persistent=False)
        self.attnNorm = _Weights({'weight': w('attnNorm.weight', [D]), 'bias': w('attnNorm.bias', [D], False)})
        self.mlpNorm = _Weights({'weight': w('mlpNorm.weight', [D]), 'bias': w('mlpNorm.bias', [D], False)})
        self.attn = _Weights(
            {
                'wq': w('attn.wq', [H * dh, D]),
                'wk': None if latent else w('attn.wk', [kh * dh, D]),
                'wv': None if latent else w('attn.wv', [vh * dh, D]),
                'wo': w('attn.wo', [D, H * dh]),
                'bq': w('attn.bq', [H * dh], False),
                'bk': w('attn.bk', [kh * dh], False),
                'bv': w('attn.bv', [vh * dh], False),
                'bo': w('attn.bo', [D], False),
            }
        )
        gated = c['mlp'] == 'swiglu'
        self.mlp = _Weights(
            {
                'gate': w('mlp.gate', [Fd, D]) if gated else None,
                'up': w('mlp.up', [Fd, D]),
                'down': w('mlp.down', [D, Fd]),
                'gateBias': w('mlp.gateBias', [Fd], False) if gated else None,
                'upBias': w('mlp.upBias', [Fd], False),
                'downBias': w('mlp.downBias', [D], False),
            }
        )
        half = rotary_pairs(c)
        self.latent = None
        if latent:
            pairs = latent['ropePairs']
            r = len(pairs[0]) if pairs else 0
            if len(pairs) != kh:
                raise ValueError(f'the latent lists rotary pairs for {len(pairs)} K heads, not {kh}')
            if any(len(p) != r or any(not 0 <= x < half for x in p) or list(p) != sorted(set(p)) for p in pairs):
                raise ValueError(f'rotary pairs must be {r} ascending pair indices below {half} per K head')
            rank = latent['rank']
            self.latent = _Weights(
                {
                    'wdkv': w('latent.wdkv', [rank, D]),
                    'wuk': w('latent.wuk', [kh * (dh - 2 * r), rank], kh * (dh - 2 * r) > 0, empty=True),
                    'wkr': w('latent.wkr', [kh * 2 * r, D], r > 0, empty=True),
                    'wuv': w('latent.wuv', [vh * dh, rank]),
                }
            )
            self.rank, self.rope_pairs = rank, [list(p) for p in pairs]
            index, self.nope, self.rope = latent_columns(c, kh, pairs)
            self.register_buffer('key_columns', index, persistent=False)
            keep_k = torch.zeros(kh, half, dtype=torch.bool)
            for h, p in enumerate(pairs):
                keep_k[h, list(p)] = True
            self.register_buffer('keep_k', keep_k, persistent=False)
            self.register_buffer('keep_q', keep_k[self.k_head_of], persistent=False)
        else:
            self.keep_k = self.keep_q = None
        self.rot_dims = rotary_dims(c)
        if self.rot_dims:
            for name, t in zip(('rot_i0', 'rot_i1', 'rot_rest', 'rot_unperm'), rotary_index(c)):
                self.register_buffer(name, t, persistent=False)

    # -- the pieces of a layer, each the matching function of src/reference/transformer.ts --

    def _norm(self, x, n):
        return norm(self.config, x, n)

    def _rope(self, x, cos, sin, keep):
        """x [B, T, n, dh] turned on its rotary pairs at positions 0 … T−1; keep [n, pairs]: False leaves a pair unturned."""
        x0 = x.index_select(-1, self.rot_i0)
        x1 = x.index_select(-1, self.rot_i1)
        c = cos[None, :, None, :]
        s = sin[None, :, None, :]
        if keep is not None:
            c = torch.where(keep[None, None], c, torch.ones_like(c))
            s = torch.where(keep[None, None], s, torch.zeros_like(s))
        y = torch.cat([x0 * c - x1 * s, x0 * s + x1 * c, x.index_select(-1, self.rot_rest)], -1)
        return y.index_select(-1, self.rot_unperm)

    def _attention(self, h, cos, sin):
        c = self.config
        B, T, _ = h.shape
        H, dh = c['heads'], c['headDim']
        a = self.attn
        q = F.linear(h, a.wq, a.bq)
        if self.latent is not None:
            L = self.latent
            lat = F.linear(h, L.wdkv)
            parts = torch.cat([F.linear(lat, L.wuk), F.linear(h, L.wkr)], -1)
            k = parts.index_select(-1, self.key_columns)
            if a.bk is not None:
                k = k + a.bk
            v = F.linear(lat, L.wuv, a.bv)
        else:
            k = F.linear(h, a.wk, a.bk)
            v = F.linear(h, a.wv, a.bv)
        q = q.view(B, T, H, dh)
        k = k.view(B, T, self.kheads, dh)
        v = v.view(B, T, self.vheads, dh)
        if self.rot_dims:
            q = self._rope(q, cos, sin, self.keep_q)
            k = self._rope(k, cos, sin, self.keep_k)
        k = k.index_select(2, self.k_head_of)
        v = v.index_select(2, self.v_head_of)
        window = (c.get('attentionWindow') or [None] * c['layers'])[self.li] or 0
        if h.is_cuda and not window and FUSED_ATTENTION:
            # On a GPU, PyTorch's fused causal attention (flash / memory-efficient kernels): no [B, H, T, T] kept for the
            # backward. The same function up to float rounding; the CPU path below is the one the parity tests check.
            att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, scale=c['attentionScale'])
            return F.linear(att.transpose(1, 2).reshape(B, T, H * dh), a.wo, a.bo)
        scores = torch.einsum('bthd,bshd->bhts', q, k) * c['attentionScale']
        i = torch.arange(T, device=h.device)
        allowed = i[None, :] <= i[:, None]
        if window > 0:
            allowed = allowed & (i[None, :] >= i[:, None] + 1 - window)
        scores = scores.masked_fill(~allowed, float('-inf'))
        att = torch.einsum('bhts,bshd->bthd', torch.softmax(scores, -1), v).reshape(B, T, H * dh)
        return F.linear(att, a.wo, a.bo)

    def _mlp(self, h):
        m = self.mlp
        kind = self.config['mlp']
        if kind == 'swiglu':
            a = F.silu(F.linear(h, m.gate, m.gateBias)) * F.linear(h, m.up, m.upBias)
        else:
            a = F.gelu(F.linear(h, m.up, m.upBias), approximate='tanh' if kind == 'gelu_tanh' else 'none')
        return F.linear(a, m.down, m.downBias)

    def forward(self, x, cos=None, sin=None):
        """The residual stream after this layer; cos and sin: the rotary tables [T, pairs] (None without rotary positions)."""
        o = self._attention(self._norm(x, self.attnNorm), cos, sin)
        if self.config['parallelResidual']:
            return x + o + self._mlp(self._norm(x, self.mlpNorm))
        x = x + o
        return x + self._mlp(self._norm(x, self.mlpNorm))


def norm(c, x, n):
    if c['norm'] == 'rmsnorm':
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c['normEps']) * n.weight
    return F.layer_norm(x, (x.shape[-1],), n.weight, n.bias, c['normEps'])


class HeadlabModel(nn.Module):
    """
    config: the lab's ModelConfig (camelCase keys, as a headlab-dha config.json holds it); layouts: per layer {kHeads,
    vHeads, kHeadOf, vHeadOf}; latents: per layer None or {rank, ropePairs}; tensors: the lab's tensorsOf names → tensors
    (any shape with the right number of values; headlab-dha files store them flat).
    """

    def __init__(self, config, layouts, latents, tensors, source=None):
        super().__init__()
        c = config
        self.config = c
        # Each layer's head maps, with `origin` (which original heads it came from) where the source recorded one.
        self.layouts = [
            dict(kHeads=kv['kHeads'], vHeads=kv['vHeads'], kHeadOf=list(kv['kHeadOf']), vHeadOf=list(kv['vHeadOf']), **({'origin': kv['origin']} if kv.get('origin') else {}))
            for kv in layouts
        ]
        self.source = source
        if len(layouts) != c['layers']:
            raise ValueError(f'{len(layouts)} layer layouts, config says {c["layers"]} layers')
        latents = latents or [None] * c['layers']
        self.latents = [None if x is None else {'rank': x['rank'], 'ropePairs': [list(p) for p in x['ropePairs']]} for x in latents]
        used = set()

        def take(name, shape, required=True, empty=False):
            t = tensors.get(name)
            if t is None:
                if required:
                    raise ValueError(f'{name} is missing')
                if empty:
                    return torch.zeros(shape, dtype=torch.float32)
                return None
            used.add(name)
            n = 1
            for d in shape:
                n *= d
            if t.numel() != n:
                raise ValueError(f'{name} holds {t.numel()} values, expected {n} ({" × ".join(map(str, shape))})')
            return t.detach().to(torch.float32).reshape(shape).clone()

        D, V = c['dim'], c['vocab']
        self.embed = nn.Parameter(take('embed', [V, D]))
        learned = c['positional']['kind'] == 'learned'
        self.positionEmbed = nn.Parameter(take('positionEmbed', [c['contextLength'], D])) if learned else None
        self.layers = nn.ModuleList()
        for i, kv in enumerate(layouts):
            self.layers.append(Layer(c, i, kv, latents[i], lambda n, s, req=True, empty=False, i=i: take(f'layers.{i}.{n}', s, req, empty)))
        self.finalNorm = _Weights({'weight': take('finalNorm.weight', [D]), 'bias': take('finalNorm.bias', [D], False)})
        self.tied = bool(c['tiedEmbeddings'])
        self.lmHead = None if self.tied else nn.Parameter(take('lmHead', [V, D]))
        bias = take('lmHeadBias', [V], False)
        self.lmHeadBias = None if bias is None else nn.Parameter(bias)
        unused = [n for n in tensors if n not in used and not (self.tied and n == 'lmHead')]
        if unused:
            raise ValueError(f'tensors the model has no place for: {", ".join(sorted(unused)[:4])}')
        self.rot_dims = rotary_dims(c)
        self._tables = {}
        # Activation checkpointing: keep each layer's input only and recompute the layer in the backward (train.py --checkpoint).
        self.checkpoint_layers = False

    def lm_head(self):
        return self.embed if self.tied else self.lmHead

    def named_lab_tensors(self):
        """(name, tensor) in the lab's tensorsOf order, without empty tensors (what a headlab-dha file holds)."""
        out = [('embed', self.embed)]
        if self.positionEmbed is not None:
            out.append(('positionEmbed', self.positionEmbed))
        for i, l in enumerate(self.layers):
            groups = [('attnNorm', l.attnNorm, ['weight', 'bias']), ('mlpNorm', l.mlpNorm, ['weight', 'bias'])]
            groups.append(('attn', l.attn, ['wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'bo']))
            if l.latent is not None:
                groups.append(('latent', l.latent, ['wdkv', 'wuk', 'wkr', 'wuv']))
            groups.append(('mlp', l.mlp, ['gate', 'up', 'down', 'gateBias', 'upBias', 'downBias']))
            for prefix, m, names in groups:
                for n in names:
                    t = getattr(m, n)
                    if t is not None and t.numel():
                        out.append((f'layers.{i}.{prefix}.{n}', t))
        out.append(('finalNorm.weight', self.finalNorm.weight))
        if self.finalNorm.bias is not None:
            out.append(('finalNorm.bias', self.finalNorm.bias))
        if not self.tied:
            out.append(('lmHead', self.lmHead))
        if self.lmHeadBias is not None:
            out.append(('lmHeadBias', self.lmHeadBias))
        return out

    def _rotary(self, T, dtype, device):
        key = (T, dtype, device)
        if key not in self._tables:
            cos, sin = rotary_tables(self.config, T)
            self._tables = {key: (cos.to(device=device, dtype=dtype), sin.to(device=device, dtype=dtype))}
        return self._tables[key]

    def forward(self, ids):
        """Logits [B, T, vocab] of token ids [B, T] at positions 0 … T−1."""
        c = self.config
        T = ids.shape[1]
        if T > c['contextLength']:
            raise ValueError(f'input_ids has {T} positions; the model\'s context is {c["contextLength"]}')
        x = F.embedding(ids, self.embed)
        if self.positionEmbed is not None:
            x = x + self.positionEmbed[:T]
        cos, sin = self._rotary(T, x.dtype, x.device) if self.rot_dims else (None, None)
        recompute = self.checkpoint_layers and torch.is_grad_enabled()
        for layer in self.layers:
            x = checkpoint(layer, x, cos, sin, use_reentrant=False) if recompute else layer(x, cos, sin)
        return F.linear(norm(c, x, self.finalNorm), self.lm_head(), self.lmHeadBias)
