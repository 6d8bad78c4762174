# Every model the lab reads, into HeadlabModel, each family's quirks resolved as the lab resolves them:
#   llama2.c .bin (src/model/llama2c.ts): the legacy 7-int header (a negative vocab: an unshared classifier) or version 1
#     ("ak42", 256 bytes), weights in llama2.c's order, interleaved RoPE θ 10000, GQA;
#   Hugging Face folders (src/model/hf.ts, hfConfig.ts): Llama and Qwen2 (rotate-half RoPE, GQA, q/k/v biases, tied or
#     untied, sliding windows), GPT-2 (Conv1D in × out weights, fused c_attn, learned positions), GPT-NeoX (per-head fused
#     query_key_value, partial rotary, parallel residual), GPT-Neo (local layers, unscaled scores); one safetensors file or
#     the shards of model.safetensors.index.json;
#   the lab's own exports (src/model/dha.ts): 'headlab-dha' (the lab's ModelConfig and each layer's K/V head maps) and
#   'headlab-mla' (the same plus each layer's latent: its rank and the rotary pairs each K head keeps).
import json
import math
import os
import re
import struct

import torch

from .errors import ModelFormatError
from .model import HeadlabModel
from .safetensors import SafetensorsFile


def gqa_layout(heads, kv_heads):
    """Query head h reads KV head ⌊h·G/H⌋ (contiguous groups)."""
    if heads % kv_heads:
        raise ModelFormatError('config', f'{heads} query heads cannot share {kv_heads} KV heads evenly')
    m = [h * kv_heads // heads for h in range(heads)]
    return {'kHeads': kv_heads, 'vHeads': kv_heads, 'kHeadOf': m, 'vHeadOf': list(m)}


def _build(config, layouts, latents, tensors, source):
    try:
        return HeadlabModel(config, layouts, latents, tensors, source)
    except ValueError as e:
        raise ModelFormatError(source[-1] if source else 'model', str(e)) from None


# -- llama2.c --

TOKENIZER = re.compile(r'^tok(enizer|\d+)\.bin$')


def load_llama2c(path):
    name = os.path.basename(path)
    with open(path, 'rb') as f:
        data = bytearray(f.read())
    size = len(data)
    if size == 0:
        raise ModelFormatError(name, 'the file is empty')
    if size < 28:
        raise ModelFormatError(name, f'the file has {size} bytes, too short for a llama2.c header')
    if struct.unpack_from('<I', data, 0)[0] == 0x616B3432:
        version = struct.unpack_from('<i', data, 4)[0]
        if version != 1:
            raise ModelFormatError(name, f'llama2.c version {version} is not supported (headlab reads the legacy format and version 1)')
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from('<7i', data, 8)
        shared, offset = data[36] == 1, 256
    else:
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from('<7i', data, 0)
        shared, vocab, offset, version = vocab > 0, abs(vocab), 28, 0
    sane = lambda v, mx: 0 < v <= mx  # noqa: E731
    if not (sane(dim, 1 << 16) and sane(hidden, 1 << 18) and sane(layers, 1024) and sane(heads, 1024) and sane(kv_heads, 1024) and sane(vocab, 1 << 20) and sane(seq, 1 << 20)):
        raise ModelFormatError(name, f'the header (dim {dim}, hidden {hidden}, layers {layers}, heads {heads}, kv heads {kv_heads}, vocab {vocab}, seq {seq}) is not a llama2.c model')
    if dim % heads or heads % kv_heads:
        raise ModelFormatError(name, f'dim {dim}, {heads} heads and {kv_heads} KV heads do not divide evenly')
    dh = dim // heads
    kv_dim = kv_heads * dh
    at = offset

    def take(label, n, shape):
        nonlocal at
        end = at + 4 * n
        if end > size:
            raise ModelFormatError(name, f'the file ends at byte {size}, inside {label} (which needs bytes {at}–{end})', 'The file is truncated; download it again')
        t = torch.frombuffer(data, dtype=torch.float32, count=n, offset=at).reshape(shape).clone()
        at = end
        return t

    def per_layer(label, shape):
        n = math.prod(shape)
        return list(take(label, layers * n, [layers, *shape]).unbind(0))

    if version == 1:
        attn_norm = per_layer('attention norms', [dim])
        mlp_norm = per_layer('ffn norms', [dim])
        final_norm = take('final norm', dim, [dim])
        embed = take('token embedding', vocab * dim, [vocab, dim])
    else:
        embed = take('token embedding', vocab * dim, [vocab, dim])
        attn_norm = per_layer('attention norms', [dim])
    wq = per_layer('wq', [dim, dim])
    wk = per_layer('wk', [kv_dim, dim])
    wv = per_layer('wv', [kv_dim, dim])
    wo = per_layer('wo', [dim, dim])
    if version == 0:
        mlp_norm = per_layer('ffn norms', [dim])
    w1 = per_layer('w1 (gate)', [hidden, dim])
    w2 = per_layer('w2 (down)', [dim, hidden])
    w3 = per_layer('w3 (up)', [hidden, dim])
    if version == 0:
        final_norm = take('final norm', dim, [dim])
        at += 2 * seq * (dh // 2) * 4  # stored RoPE tables (freq_cis_real, freq_cis_imag): recomputed, skipped
    tensors = {'embed': embed, 'finalNorm.weight': final_norm}
    if not shared:
        tensors['lmHead'] = take('classifier', vocab * dim, [vocab, dim])
    if at > size:
        raise ModelFormatError(name, f'the file ends at byte {size}, inside the RoPE tables', 'The file is truncated')
    for i in range(layers):
        p = f'layers.{i}.'
        tensors.update(
            {
                p + 'attnNorm.weight': attn_norm[i],
                p + 'mlpNorm.weight': mlp_norm[i],
                p + 'attn.wq': wq[i],
                p + 'attn.wk': wk[i],
                p + 'attn.wv': wv[i],
                p + 'attn.wo': wo[i],
                p + 'mlp.gate': w1[i],
                p + 'mlp.up': w3[i],
                p + 'mlp.down': w2[i],
            }
        )
    config = {
        'family': 'llama2c',
        'architecture': 'llama2.c v1' if version == 1 else 'llama2.c legacy',
        'layers': layers,
        'dim': dim,
        'heads': heads,
        'headDim': dh,
        'ffnDim': hidden,
        'vocab': vocab,
        'contextLength': seq,
        'norm': 'rmsnorm',
        'normEps': 1e-5,
        'positional': {'kind': 'rotary', 'style': 'interleaved', 'fraction': 1, 'theta': 10000},
        'mlp': 'swiglu',
        'attentionBias': {'q': False, 'k': False, 'v': False, 'o': False},
        'mlpBias': False,
        'tiedEmbeddings': shared,
        'parallelResidual': False,
        'attentionScale': 1 / math.sqrt(dh),
        'attentionWindow': [None] * layers,
        'bosId': 1,
        'eosId': 2,
    }
    return _build(config, [gqa_layout(heads, kv_heads) for _ in range(layers)], None, tensors, [name])


# -- Hugging Face folders --

ARCHITECTURES = {
    'LlamaForCausalLM': 'llama',
    'GPT2LMHeadModel': 'gpt2',
    'GPTNeoXForCausalLM': 'gpt-neox',
    'Qwen2ForCausalLM': 'qwen2',
    'GPTNeoForCausalLM': 'gpt-neo',
}
MODEL_TYPES = {'llama': 'llama', 'gpt2': 'gpt2', 'gpt_neox': 'gpt-neox', 'qwen2': 'qwen2', 'gpt_neo': 'gpt-neo'}


def family_of(c):
    archs = c.get('architectures') if isinstance(c.get('architectures'), list) else []
    for a in archs:
        if a in ARCHITECTURES:
            return ARCHITECTURES[a], a
    mt = c.get('model_type') if isinstance(c.get('model_type'), str) else ''
    if not archs and mt in MODEL_TYPES:
        fam = MODEL_TYPES[mt]
        return fam, next(k for k, v in ARCHITECTURES.items() if v == fam)
    raise ModelFormatError(
        'config.json',
        f'architecture {", ".join(archs) if archs else mt or "(none given)"} is not supported',
        f'headlab reads {", ".join(ARCHITECTURES)}, and llama2.c .bin checkpoints',
    )


_MISSING = object()


def num(c, key, fallback=_MISSING):
    v = c.get(key, _MISSING)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return v
    if fallback is not _MISSING and (v is _MISSING or v is None):
        return fallback
    raise ModelFormatError('config.json', f'"{key}" is {"missing" if v is _MISSING else f"not a number ({json.dumps(v)})"}')


def rope_parameters(c):
    rp = c.get('rope_parameters') or c.get('rope_scaling') or {}
    kind = rp.get('rope_type', rp.get('type', 'default')) or 'default'
    theta = next((v for v in (rp.get('rope_theta'), c.get('rope_theta'), c.get('rotary_emb_base')) if v is not None), 10000)
    fraction = next((v for v in (rp.get('partial_rotary_factor'), c.get('partial_rotary_factor'), c.get('rotary_pct')) if v is not None), None)
    return theta, fraction, kind


def inv_freq_precision(c):
    d = c.get('dtype', c.get('torch_dtype'))
    return 'bf16' if d == 'bfloat16' else 'f16' if d == 'float16' else 'f32'


def activation(name, family):
    if name in ('silu', 'swish'):
        return 'swiglu'
    if name == 'gelu':
        return 'gelu_erf'
    if name in ('gelu_new', 'gelu_pytorch_tanh'):
        return 'gelu_tanh'
    raise ModelFormatError('config.json', f'activation {json.dumps(name)} of {family} is not supported', 'headlab runs silu (SwiGLU), gelu and gelu_new')


def _ids(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, list) and v and isinstance(v[0], int):
        return v[0]
    return None


class TensorIndex:
    """All tensors of a checkpoint by name, whichever file (shard) holds them; read on demand, widened to float32."""

    def __init__(self, folder, architecture):
        self.architecture = architecture
        self.where = {}
        self.files = []
        index = os.path.join(folder, 'model.safetensors.index.json')
        if os.path.isfile(index):
            with open(index, encoding='utf-8') as f:
                weight_map = json.load(f).get('weight_map')
            if not isinstance(weight_map, dict):
                raise ModelFormatError('model.safetensors.index.json', 'it has no weight_map')
            names = sorted(set(weight_map.values()))
            missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
            if missing:
                raise ModelFormatError('model.safetensors.index.json', f'{len(missing)} of its {len(names)} shards are missing ({", ".join(missing[:3])})')
        else:
            names = sorted(n for n in os.listdir(folder) if n.endswith('.safetensors'))
            if not names:
                raise ModelFormatError('config.json', 'no .safetensors file is beside it', 'Choose the folder with config.json and its model*.safetensors files')
        for n in names:
            f = SafetensorsFile(os.path.join(folder, n))
            self.files.append(n)
            for key in f.tensors:
                if key in self.where:
                    raise ModelFormatError(n, f'tensor "{key}" is also in another shard', 'Shards must not repeat tensors')
                self.where[key] = f

    def has(self, name):
        return name in self.where

    def get(self, name, shape):
        f = self.where.get(name)
        if f is None:
            raise ModelFormatError('checkpoint', f'tensor "{name}" is missing ({self.architecture} needs it)', 'Is this the right checkpoint for its config.json?')
        stored = f.tensors[name][1]
        if list(stored) != list(shape):
            raise ModelFormatError(os.path.basename(f.path), f'tensor "{name}" has shape {stored}, expected {list(shape)} from config.json')
        return f.get_float(name)


def load_hf(folder):
    path = os.path.join(folder, 'config.json')
    with open(path, encoding='utf-8') as f:
        try:
            c = json.load(f)
        except ValueError as e:
            raise ModelFormatError('config.json', f'the JSON does not parse ({e})') from None
    if not isinstance(c, dict):
        raise ModelFormatError('config.json', 'it is not a JSON object')
    if c.get('model_type') in ('headlab-dha', 'headlab-mla'):
        return load_dha(folder, c)
    family, arch = family_of(c)
    index = TensorIndex(folder, arch)
    loader = {'llama': _llama_like, 'qwen2': _llama_like, 'gpt2': _gpt2, 'gpt-neox': _gpt_neox, 'gpt-neo': _gpt_neo}[family]
    config, layouts, tensors = loader(c, family, arch, index)
    return _build(config, layouts, None, tensors, ['config.json', *index.files])


def _base(c, family, arch):
    return {'family': family, 'architecture': arch, 'bosId': _ids(c.get('bos_token_id')), 'eosId': _ids(c.get('eos_token_id'))}


def _llama_like(c, family, arch, index):
    D = num(c, 'hidden_size')
    H = num(c, 'num_attention_heads')
    KV = num(c, 'num_key_value_heads', H)
    dh = num(c, 'head_dim', D / H)
    Fd = num(c, 'intermediate_size')
    V = num(c, 'vocab_size')
    L = num(c, 'num_hidden_layers')
    theta, fraction, kind = rope_parameters(c)
    if kind != 'default':
        raise ModelFormatError('config.json', f'RoPE scaling "{kind}" is not supported', 'headlab runs the default rotary embedding')
    qkv_bias = family == 'qwen2' or c.get('attention_bias') is True
    o_bias = family == 'llama' and c.get('attention_bias') is True
    mlp_bias = c.get('mlp_bias') is True
    tie = c.get('tie_word_embeddings', _MISSING)
    tied = tie is True or (tie is _MISSING and not index.has('lm_head.weight'))
    windows = []
    for li in range(L):
        types = c.get('layer_types')
        sliding = types[li] == 'sliding_attention' if types else c.get('use_sliding_window') is True and li >= num(c, 'max_window_layers', 0)
        windows.append(c['sliding_window'] if sliding and isinstance(c.get('sliding_window'), (int, float)) else None)
    act = activation(c.get('hidden_act') or 'silu', arch)
    if act != 'swiglu':
        raise ModelFormatError('config.json', f'{arch} with hidden_act {c.get("hidden_act")} is not supported')
    D, H, KV, dh, Fd, V, L = (int(x) for x in (D, H, KV, dh, Fd, V, L))
    config = {
        **_base(c, family, arch),
        'layers': L,
        'dim': D,
        'heads': H,
        'headDim': dh,
        'ffnDim': Fd,
        'vocab': V,
        'contextLength': num(c, 'max_position_embeddings', 2048),
        'norm': 'rmsnorm',
        'normEps': num(c, 'rms_norm_eps', 1e-6),
        'positional': {'kind': 'rotary', 'style': 'half', 'fraction': fraction if fraction is not None else 1, 'theta': theta, 'invFreqPrecision': inv_freq_precision(c)},
        'mlp': act,
        'attentionBias': {'q': qkv_bias, 'k': qkv_bias, 'v': qkv_bias, 'o': o_bias},
        'mlpBias': mlp_bias,
        'tiedEmbeddings': tied,
        'parallelResidual': False,
        'attentionScale': 1 / math.sqrt(dh),
        'attentionWindow': windows,
    }
    g = index.get
    t = {'embed': g('model.embed_tokens.weight', [V, D])}
    for li in range(L):
        p, q = f'model.layers.{li}', f'layers.{li}.'
        t[q + 'attnNorm.weight'] = g(f'{p}.input_layernorm.weight', [D])
        t[q + 'mlpNorm.weight'] = g(f'{p}.post_attention_layernorm.weight', [D])
        for ours, theirs, rows in (('wq', 'q_proj', H * dh), ('wk', 'k_proj', KV * dh), ('wv', 'v_proj', KV * dh), ('wo', 'o_proj', D)):
            t[q + 'attn.' + ours] = g(f'{p}.self_attn.{theirs}.weight', [rows, D if ours != 'wo' else H * dh])
        for ours, theirs, n, on in (('bq', 'q_proj', H * dh, qkv_bias), ('bk', 'k_proj', KV * dh, qkv_bias), ('bv', 'v_proj', KV * dh, qkv_bias), ('bo', 'o_proj', D, o_bias)):
            if on:
                t[q + 'attn.' + ours] = g(f'{p}.self_attn.{theirs}.bias', [n])
        t[q + 'mlp.gate'] = g(f'{p}.mlp.gate_proj.weight', [Fd, D])
        t[q + 'mlp.up'] = g(f'{p}.mlp.up_proj.weight', [Fd, D])
        t[q + 'mlp.down'] = g(f'{p}.mlp.down_proj.weight', [D, Fd])
        if mlp_bias:
            t[q + 'mlp.gateBias'] = g(f'{p}.mlp.gate_proj.bias', [Fd])
            t[q + 'mlp.upBias'] = g(f'{p}.mlp.up_proj.bias', [Fd])
            t[q + 'mlp.downBias'] = g(f'{p}.mlp.down_proj.bias', [D])
    t['finalNorm.weight'] = g('model.norm.weight', [D])
    if not tied:
        t['lmHead'] = g('lm_head.weight', [V, D])
    return config, [gqa_layout(H, KV) for _ in range(L)], t


def _learned_positions_config(c, family, arch, L, D, H, Fd, V, T):
    return {
        **_base(c, family, arch),
        'layers': L,
        'dim': D,
        'heads': H,
        'headDim': D // H,
        'ffnDim': Fd,
        'vocab': V,
        'contextLength': T,
        'norm': 'layernorm',
        'normEps': num(c, 'layer_norm_epsilon', 1e-5),
        'positional': {'kind': 'learned'},
        'mlp': activation(c.get('activation_function') or 'gelu_new', arch),
        'mlpBias': True,
        'tiedEmbeddings': c.get('tie_word_embeddings') is not False,
        'parallelResidual': False,
    }


def _layer_norm(t, index, theirs, ours, D):
    t[ours + '.weight'] = index.get(theirs + '.weight', [D])
    t[ours + '.bias'] = index.get(theirs + '.bias', [D])


def _gpt2(c, family, arch, index):
    D, H, L, V, T = (int(num(c, k)) for k in ('n_embd', 'n_head', 'n_layer', 'vocab_size', 'n_positions'))
    Fd = int(num(c, 'n_inner', 4 * D))
    dh = D // H
    if c.get('scale_attn_by_inverse_layer_idx') is True:
        raise ModelFormatError('config.json', 'scale_attn_by_inverse_layer_idx is not supported', 'headlab runs GPT-2 with the standard 1/√d scaling')
    prefix = 'transformer.' if index.has('transformer.wte.weight') else ''
    config = {
        **_learned_positions_config(c, family, arch, L, D, H, Fd, V, T),
        'attentionBias': {'q': True, 'k': True, 'v': True, 'o': True},
        'attentionScale': 1 if c.get('scale_attn_weights') is False else 1 / math.sqrt(dh),
        'attentionWindow': [None] * L,
    }
    g = index.get
    t = {'embed': g(f'{prefix}wte.weight', [V, D]), 'positionEmbed': g(f'{prefix}wpe.weight', [T, D])}
    for li in range(L):
        p, q = f'{prefix}h.{li}', f'layers.{li}.'
        # Conv1D: weight [in, out]; c_attn's out is [q | k | v], each D wide.
        qkv = g(f'{p}.attn.c_attn.weight', [D, 3 * D]).t()
        b = g(f'{p}.attn.c_attn.bias', [3 * D])
        _layer_norm(t, index, f'{p}.ln_1', q + 'attnNorm', D)
        _layer_norm(t, index, f'{p}.ln_2', q + 'mlpNorm', D)
        t.update({q + 'attn.wq': qkv[:D], q + 'attn.wk': qkv[D : 2 * D], q + 'attn.wv': qkv[2 * D :]})
        t.update({q + 'attn.bq': b[:D], q + 'attn.bk': b[D : 2 * D], q + 'attn.bv': b[2 * D :]})
        t[q + 'attn.wo'] = g(f'{p}.attn.c_proj.weight', [D, D]).t()
        t[q + 'attn.bo'] = g(f'{p}.attn.c_proj.bias', [D])
        t[q + 'mlp.up'] = g(f'{p}.mlp.c_fc.weight', [D, Fd]).t()
        t[q + 'mlp.upBias'] = g(f'{p}.mlp.c_fc.bias', [Fd])
        t[q + 'mlp.down'] = g(f'{p}.mlp.c_proj.weight', [Fd, D]).t()
        t[q + 'mlp.downBias'] = g(f'{p}.mlp.c_proj.bias', [D])
    _layer_norm(t, index, f'{prefix}ln_f', 'finalNorm', D)
    if not config['tiedEmbeddings'] and index.has('lm_head.weight'):
        t['lmHead'] = g('lm_head.weight', [V, D])
    config['tiedEmbeddings'] = 'lmHead' not in t
    return config, [gqa_layout(H, H) for _ in range(L)], t


def _gpt_neox(c, family, arch, index):
    D, H, L, V, Fd = (int(num(c, k)) for k in ('hidden_size', 'num_attention_heads', 'num_hidden_layers', 'vocab_size', 'intermediate_size'))
    dh = D // H
    theta, fraction, kind = rope_parameters(c)
    fraction = 1 if fraction is None else fraction
    if kind != 'default':
        raise ModelFormatError('config.json', f'RoPE scaling "{kind}" is not supported')
    bias = c.get('attention_bias') is not False
    tied = c.get('tie_word_embeddings') is True
    config = {
        **_base(c, family, arch),
        'layers': L,
        'dim': D,
        'heads': H,
        'headDim': dh,
        'ffnDim': Fd,
        'vocab': V,
        'contextLength': num(c, 'max_position_embeddings', 2048),
        'norm': 'layernorm',
        'normEps': num(c, 'layer_norm_eps', 1e-5),
        # HF GPT-NeoX rotates the first ⌊headDim·rotary_pct⌋ dims of each head, rotate-half within them.
        'positional': {'kind': 'rotary', 'style': 'half', 'fraction': math.floor(dh * fraction) / dh, 'theta': theta, 'invFreqPrecision': inv_freq_precision(c)},
        'mlp': activation(c.get('hidden_act') or 'gelu', arch),
        'attentionBias': {'q': bias, 'k': bias, 'v': bias, 'o': bias},
        'mlpBias': True,
        'tiedEmbeddings': tied,
        'parallelResidual': c.get('use_parallel_residual') is not False,
        'attentionScale': 1 / math.sqrt(dh),
        'attentionWindow': [None] * L,
    }
    g = index.get
    t = {'embed': g('gpt_neox.embed_in.weight', [V, D])}
    for li in range(L):
        p, q = f'gpt_neox.layers.{li}', f'layers.{li}.'
        # query_key_value rows are per head: [q_h (dh) | k_h (dh) | v_h (dh)] for h = 0 … H−1.
        w = g(f'{p}.attention.query_key_value.weight', [3 * D, D]).reshape(H, 3, dh, D)
        for j, n in enumerate(('wq', 'wk', 'wv')):
            t[q + 'attn.' + n] = w[:, j].reshape(D, D)
        if bias:
            b = g(f'{p}.attention.query_key_value.bias', [3 * D]).reshape(H, 3, dh)
            for j, n in enumerate(('bq', 'bk', 'bv')):
                t[q + 'attn.' + n] = b[:, j].reshape(D)
            t[q + 'attn.bo'] = g(f'{p}.attention.dense.bias', [D])
        t[q + 'attn.wo'] = g(f'{p}.attention.dense.weight', [D, D])
        _layer_norm(t, index, f'{p}.input_layernorm', q + 'attnNorm', D)
        _layer_norm(t, index, f'{p}.post_attention_layernorm', q + 'mlpNorm', D)
        t[q + 'mlp.up'] = g(f'{p}.mlp.dense_h_to_4h.weight', [Fd, D])
        t[q + 'mlp.upBias'] = g(f'{p}.mlp.dense_h_to_4h.bias', [Fd])
        t[q + 'mlp.down'] = g(f'{p}.mlp.dense_4h_to_h.weight', [D, Fd])
        t[q + 'mlp.downBias'] = g(f'{p}.mlp.dense_4h_to_h.bias', [D])
    _layer_norm(t, index, 'gpt_neox.final_layer_norm', 'finalNorm', D)
    if not tied:
        t['lmHead'] = g('embed_out.weight', [V, D])
    return config, [gqa_layout(H, H) for _ in range(L)], t


def _gpt_neo(c, family, arch, index):
    D, H, L, V, T = (int(num(c, k)) for k in ('hidden_size', 'num_heads', 'num_layers', 'vocab_size', 'max_position_embeddings'))
    Fd = int(num(c, 'intermediate_size', 4 * D))
    types = []
    for pattern, repeat in c.get('attention_types') or [[['global'], L]]:
        types += list(pattern) * repeat
    if len(types) != L:
        raise ModelFormatError('config.json', f'attention_types describes {len(types)} layers, num_layers is {L}')
    window = num(c, 'window_size', 256)
    prefix = 'transformer.' if index.has('transformer.wte.weight') else ''
    config = {
        **_learned_positions_config(c, family, arch, L, D, H, Fd, V, T),
        'attentionBias': {'q': False, 'k': False, 'v': False, 'o': True},
        'attentionScale': 1,  # GPT-Neo does not scale attention scores
        'attentionWindow': [window if x == 'local' else None for x in types],
    }
    g = index.get
    t = {'embed': g(f'{prefix}wte.weight', [V, D]), 'positionEmbed': g(f'{prefix}wpe.weight', [T, D])}
    for li in range(L):
        p, q = f'{prefix}h.{li}', f'layers.{li}.'
        _layer_norm(t, index, f'{p}.ln_1', q + 'attnNorm', D)
        _layer_norm(t, index, f'{p}.ln_2', q + 'mlpNorm', D)
        for ours, theirs in (('wq', 'q_proj'), ('wk', 'k_proj'), ('wv', 'v_proj'), ('wo', 'out_proj')):
            t[q + 'attn.' + ours] = g(f'{p}.attn.attention.{theirs}.weight', [D, D])
        t[q + 'attn.bo'] = g(f'{p}.attn.attention.out_proj.bias', [D])
        t[q + 'mlp.up'] = g(f'{p}.mlp.c_fc.weight', [Fd, D])
        t[q + 'mlp.upBias'] = g(f'{p}.mlp.c_fc.bias', [Fd])
        t[q + 'mlp.down'] = g(f'{p}.mlp.c_proj.weight', [D, Fd])
        t[q + 'mlp.downBias'] = g(f'{p}.mlp.c_proj.bias', [D])
    _layer_norm(t, index, f'{prefix}ln_f', 'finalNorm', D)
    if not config['tiedEmbeddings'] and index.has('lm_head.weight'):
        t['lmHead'] = g('lm_head.weight', [V, D])
    config['tiedEmbeddings'] = 'lmHead' not in t
    return config, [gqa_layout(H, H) for _ in range(L)], t


# -- the lab's own exports --


def load_dha(folder, cfg):
    kind = cfg.get('model_type')
    if cfg.get('format_version') != 1:
        raise ModelFormatError('config.json', f'{kind} format version {cfg.get("format_version")} is not 1', 'Export it again with this version of headlab')
    c = cfg.get('config')
    layouts = cfg.get('kv_layouts')
    names = cfg.get('tensors')
    if not isinstance(c, dict) or not isinstance(layouts, list) or len(layouts) != c.get('layers') or not isinstance(names, list):
        raise ModelFormatError('config.json', f'the {kind} config lacks config, kv_layouts (one per layer) or tensors')
    latents = None
    if kind == 'headlab-mla':
        raw = cfg.get('latents')
        if not isinstance(raw, list) or len(raw) != c['layers']:
            raise ModelFormatError('config.json', 'the headlab-mla config lacks latents (one entry per layer, null for a layer without one)')
        latents = [None if x is None else {'rank': x['rank'], 'ropePairs': x['rope_pairs']} for x in raw]
    files = [n for n in os.listdir(folder) if n.endswith('.safetensors')]
    if len(files) != 1:
        raise ModelFormatError('config.json', f'a {kind} folder holds one .safetensors file; found {len(files)}')
    f = SafetensorsFile(os.path.join(folder, files[0]))
    tensors = {}
    for n in names:
        if n not in f.tensors:
            raise ModelFormatError(files[0], f'tensor "{n}" named by config.json is missing')
        tensors[n] = f.get_float(n)
    return _build(c, layouts, latents, tensors, ['config.json', files[0]])


def load_model(path):
    """A llama2.c .bin, a Hugging Face folder, a headlab-dha/-mla folder, or a .safetensors file of such a folder."""
    if not os.path.exists(path):
        raise ModelFormatError(path, 'no such file or folder')
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, 'config.json')):
            return load_hf(path)
        bins = [n for n in sorted(os.listdir(path)) if n.endswith('.bin') and not TOKENIZER.match(n)]
        if len(bins) == 1:
            return load_llama2c(os.path.join(path, bins[0]))
        raise ModelFormatError(path, 'the folder holds no config.json, *.safetensors or llama2.c files')
    if path.endswith('.safetensors'):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isfile(os.path.join(folder, 'config.json')):
            raise ModelFormatError(os.path.basename(path), 'config.json is missing', 'A safetensors checkpoint needs its config.json: choose the whole folder')
        return load_hf(folder)
    with open(path, 'rb') as f:
        head = f.read(4)
    if head == b'GGUF':
        raise ModelFormatError(os.path.basename(path), 'this is a GGUF file (llama.cpp)', 'headlab reads safetensors folders and llama2.c .bin checkpoints')
    if head[:2] == b'PK':
        raise ModelFormatError(os.path.basename(path), 'this is a PyTorch ZIP checkpoint', "Save it as safetensors with transformers, or export it with llama2.c's export.py")
    return load_llama2c(path)
