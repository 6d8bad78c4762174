# The folders the lab writes (src/fusion/export.ts exportFusedModel), written from a HeadlabModel: a Hugging Face GQA
# checkpoint (config.json with num_key_value_heads + model.safetensors; src/model/hf-writer.ts) when the model is uniform
# GQA with contiguous groups and Llama/Qwen2-shaped, else the lab's headlab-dha / headlab-mla checkpoint (src/model/dha.ts);
# a llama2.c model.bin beside it when that format holds the model (src/model/llama2c.ts writeLlama2cLegacy); the tokenizer
# files of the source; experiment.json. config.json is written as the lab writes it (JSON.stringify(x, null, 1), numbers
# as JavaScript prints them), so the same model gives the same bytes.
import decimal
import json
import math
import os
import re
import struct

import torch

from .safetensors import tensor_bytes, write_safetensors

DHA_MODEL_TYPE = 'headlab-dha'
MLA_MODEL_TYPE = 'headlab-mla'
DHA_FORMAT_VERSION = 1


# -- JSON as JavaScript writes it --


def js_number(x):
    """Number.prototype.toString (ECMAScript Number::toString) of a float or int."""
    if isinstance(x, bool):
        return 'true' if x else 'false'
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        return 'null'
    if x == 0:
        return '0'
    if x < 0:
        return '-' + js_number(-x)
    t = decimal.Decimal(repr(x)).normalize().as_tuple()  # the shortest round-trip digits, as both languages find them
    s = ''.join(map(str, t.digits))
    k = len(s)
    n = t.exponent + k  # x = 0.s × 10^n
    if k <= n <= 21:
        return s + '0' * (n - k)
    if 0 < n <= 21:
        return s[:n] + '.' + s[n:]
    if -6 < n <= 0:
        return '0.' + '0' * (-n) + s
    e = n - 1
    return (s if k == 1 else s[0] + '.' + s[1:]) + 'e' + ('+' if e >= 0 else '-') + str(abs(e))


def js_json(v, indent=1, level=0):
    """JSON.stringify(v, null, indent)."""
    pad = ' ' * (indent * (level + 1))
    end = ' ' * (indent * level)
    if v is None:
        return 'null'
    if isinstance(v, (bool, int, float)):
        return js_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        if not v:
            return '{}'
        items = [f'{pad}{json.dumps(str(k), ensure_ascii=False)}: {js_json(x, indent, level + 1)}' for k, x in v.items()]
        return '{\n' + ',\n'.join(items) + '\n' + end + '}'
    if isinstance(v, (list, tuple)):
        if not v:
            return '[]'
        return '[\n' + ',\n'.join(pad + js_json(x, indent, level + 1) for x in v) + '\n' + end + ']'
    raise TypeError(f'js_json: {type(v).__name__} is not JSON')


def _json_file(v):
    return (js_json(v) + '\n').encode('utf-8')


# -- the model's shape, as src/fusion/edit.ts and hf-writer.ts judge it --


def uniform_gqa(model):
    """G when every layer is GQA with G contiguous groups shared by K and V (and no latent), else None."""
    H = model.config['heads']
    if any(x is not None for x in model.latents):
        return None
    G = model.layouts[0]['kHeads']
    for kv in model.layouts:
        if kv['kHeads'] != G or kv['vHeads'] != G or H % G:
            return None
        for h in range(H):
            g = (h * G) // H
            if kv['kHeadOf'][h] != g or kv['vHeadOf'][h] != g:
                return None
    return G


def hf_gqa_obstacle(model, G):
    """Why the model cannot be written as a Hugging Face GQA checkpoint, or None when it can (hfGqaObstacle)."""
    c = model.config
    pos = c['positional']
    bias = c['attentionBias']
    if any(x is not None for x in model.latents):
        return 'its layers cache a latent (MLA), which no transformers config of these families holds'
    if G is None:
        return 'K/V head counts differ across layers, K and V groups differ, or groups are not contiguous'
    if c['family'] not in ('llama', 'llama2c', 'qwen2'):
        return f'the {c["family"]} family has no GQA config in transformers'
    if c['norm'] != 'rmsnorm' or c['mlp'] != 'swiglu' or pos['kind'] != 'rotary' or pos['fraction'] != 1:
        return 'not Llama-shaped'
    if (pos.get('invFreqPrecision') or 'f32') != 'f32':
        return 'its rotary frequencies follow a 16-bit dtype, which an F32 export would change'
    if any(w is not None for w in c['attentionWindow']):
        return 'it has sliding-window layers'
    if c['mlpBias'] or bias['o'] or (c['family'] != 'qwen2' and (bias['q'] or bias['k'] or bias['v'])):
        return 'it has biases a Llama config cannot name'
    return None


def fits_llama2c(model):
    c = model.config
    pos = c['positional']
    return (
        c['norm'] == 'rmsnorm'
        and c['mlp'] == 'swiglu'
        and pos['kind'] == 'rotary'
        and pos['style'] == 'interleaved'
        and pos['fraction'] == 1
        and not c['mlpBias']
        and not any(c['attentionBias'].values())
        and uniform_gqa(model) is not None
    )


def _origin_fits(kv, heads):
    o = kv.get('origin')

    def lists(x, n):
        return isinstance(x, list) and len(x) == n and all(isinstance(g, list) and all(isinstance(i, int) for i in g) for g in x)

    return bool(o and isinstance(o.get('q'), list) and len(o['q']) == heads and lists(o.get('k'), kv['kHeads']) and lists(o.get('v'), kv['vHeads']))


def _layout(kv, heads):
    out = {'kHeads': kv['kHeads'], 'vHeads': kv['vHeads'], 'kHeadOf': kv['kHeadOf'], 'vHeadOf': kv['vHeadOf']}
    if _origin_fits(kv, heads):
        out['origin'] = kv['origin']
    return out


def dha_config_of(model):
    mla = any(x is not None for x in model.latents)
    cfg = {
        'model_type': MLA_MODEL_TYPE if mla else DHA_MODEL_TYPE,
        'architectures': ['HeadlabMlaForCausalLM'] if mla else ['HeadlabDhaForCausalLM'],
        'format_version': DHA_FORMAT_VERSION,
        'config': model.config,
        'kv_layouts': [_layout(kv, model.config['heads']) for kv in model.layouts],
    }
    if mla:
        cfg['latents'] = [None if x is None else {'rank': x['rank'], 'rope_pairs': x['ropePairs']} for x in model.latents]
    cfg['tensors'] = [n for n, _ in model.named_lab_tensors()]
    return cfg


# -- the writers --


def _f32(t):
    return t.detach().to('cpu', torch.float32)


def _interleaved_to_half(w, heads, dh):
    """Rows of each head reordered from llama2.c's interleaved pairs to rotate-half (row p ← 2p, dh/2 + p ← 2p + 1)."""
    return w.reshape(heads, dh // 2, 2, -1).transpose(1, 2).reshape(heads * dh, -1)


def write_hf_gqa(model, G, path):
    c = model.config
    qwen = c['family'] == 'qwen2'
    dh, D, H, Fd = c['headDim'], c['dim'], c['heads'], c['ffnDim']
    interleaved = c['positional']['kind'] == 'rotary' and c['positional']['style'] == 'interleaved'

    def fix(w, heads):
        return _interleaved_to_half(w, heads, dh) if interleaved else w

    t = [('model.embed_tokens.weight', _f32(model.embed).reshape(c['vocab'], D))]
    for i, l in enumerate(model.layers):
        p = f'model.layers.{i}'
        a, m = l.attn, l.mlp
        t += [
            (f'{p}.input_layernorm.weight', _f32(l.attnNorm.weight)),
            (f'{p}.post_attention_layernorm.weight', _f32(l.mlpNorm.weight)),
            (f'{p}.self_attn.q_proj.weight', fix(_f32(a.wq), H).reshape(H * dh, D)),
            (f'{p}.self_attn.k_proj.weight', fix(_f32(a.wk), G).reshape(G * dh, D)),
            (f'{p}.self_attn.v_proj.weight', _f32(a.wv).reshape(G * dh, D)),
            (f'{p}.self_attn.o_proj.weight', _f32(a.wo).reshape(D, H * dh)),
            (f'{p}.mlp.gate_proj.weight', _f32(m.gate).reshape(Fd, D)),
            (f'{p}.mlp.up_proj.weight', _f32(m.up).reshape(Fd, D)),
            (f'{p}.mlp.down_proj.weight', _f32(m.down).reshape(D, Fd)),
        ]
        if a.bq is not None:
            t.append((f'{p}.self_attn.q_proj.bias', fix(_f32(a.bq), H).reshape(H * dh)))
        if a.bk is not None:
            t.append((f'{p}.self_attn.k_proj.bias', fix(_f32(a.bk), G).reshape(G * dh)))
        if a.bv is not None:
            t.append((f'{p}.self_attn.v_proj.bias', _f32(a.bv).reshape(G * dh)))
    t.append(('model.norm.weight', _f32(model.finalNorm.weight)))
    if not c['tiedEmbeddings']:
        t.append(('lm_head.weight', _f32(model.lmHead).reshape(c['vocab'], D)))
    config = {
        'architectures': ['Qwen2ForCausalLM' if qwen else 'LlamaForCausalLM'],
        'model_type': 'qwen2' if qwen else 'llama',
        'hidden_size': D,
        'intermediate_size': Fd,
        'num_hidden_layers': c['layers'],
        'num_attention_heads': H,
        'num_key_value_heads': G,
        'head_dim': dh,
        'vocab_size': c['vocab'],
        'max_position_embeddings': c['contextLength'],
        'rms_norm_eps': c['normEps'],
        'rope_theta': c['positional']['theta'] if c['positional']['kind'] == 'rotary' else 10000,
        'hidden_act': 'silu',
        'tie_word_embeddings': c['tiedEmbeddings'],
        'torch_dtype': 'float32',
    }
    if not qwen:
        config.update({'attention_bias': False, 'mlp_bias': False})
    if c.get('bosId') is not None:
        config['bos_token_id'] = c['bosId']
    if c.get('eosId') is not None:
        config['eos_token_id'] = c['eosId']
    with open(os.path.join(path, 'config.json'), 'wb') as f:
        f.write(_json_file(config))
    write_safetensors(os.path.join(path, 'model.safetensors'), [(n, x.contiguous()) for n, x in t], {'format': 'pt'})


def write_dha(model, path):
    cfg = dha_config_of(model)
    with open(os.path.join(path, 'config.json'), 'wb') as f:
        f.write(_json_file(cfg))
    tensors = [(n, _f32(x).reshape(-1)) for n, x in model.named_lab_tensors()]
    write_safetensors(os.path.join(path, 'model.safetensors'), tensors, {'format': cfg['model_type']})


def write_llama2c_legacy(model, path):
    c = model.config
    kv = model.layouts[0]
    vocab = c['vocab'] if c['tiedEmbeddings'] else -c['vocab']
    parts = [struct.pack('<7i', c['dim'], c['ffnDim'], c['layers'], c['heads'], kv['kHeads'], vocab, c['contextLength'])]
    add = lambda t: parts.append(tensor_bytes(_f32(t)))  # noqa: E731
    add(model.embed)
    for get in (
        lambda l: l.attnNorm.weight,
        lambda l: l.attn.wq,
        lambda l: l.attn.wk,
        lambda l: l.attn.wv,
        lambda l: l.attn.wo,
        lambda l: l.mlpNorm.weight,
        lambda l: l.mlp.gate,
        lambda l: l.mlp.down,
        lambda l: l.mlp.up,
    ):
        for l in model.layers:
            add(get(l))
    add(model.finalNorm.weight)
    half = c['headDim'] // 2
    theta = c['positional']['theta']
    f = [[t / math.pow(theta, (2 * i) / c['headDim']) for i in range(half)] for t in range(c['contextLength'])]
    add(torch.tensor([math.cos(x) for row in f for x in row], dtype=torch.float32))
    add(torch.tensor([math.sin(x) for row in f for x in row], dtype=torch.float32))
    if not c['tiedEmbeddings']:
        add(model.lmHead)
    with open(os.path.join(path, 'model.bin'), 'wb') as fh:
        for p in parts:
            fh.write(p)


TOKENIZER_FILES = re.compile(r'^(tokenizer\.json|tokenizer_config\.json|tokenizer\.bin|tok\d+\.bin)$')
COMPANIONS = re.compile(r'^(config\.json|tokenizer\.json|tokenizer_config\.json|model\.safetensors\.index\.json|tokenizer\.bin|tok\d+\.bin|.*\.safetensors)$')


def tokenizer_files_of(source, tokenizer=None):
    """{name: path} of the tokenizer files the lab carries from a source (src/model/node-files.ts filesFromPath, then
    src/cli/train-command.ts tokenizerFilesOf), with a --tokenizer file under the name the lab gives it."""
    files = {}
    if os.path.isdir(source):
        for f in sorted(os.listdir(source)):
            if os.path.isfile(os.path.join(source, f)) and COMPANIONS.match(f):
                files[f] = os.path.join(source, f)
    else:
        folder, base = os.path.dirname(os.path.abspath(source)), os.path.basename(source)
        for f in sorted(os.listdir(folder)):
            if f == base:
                continue
            wanted = COMPANIONS.match(f) and not f.endswith('.bin') if base.endswith('.safetensors') else re.match(r'^(tokenizer\.bin|tok\d+\.bin)$', f)
            if wanted and os.path.isfile(os.path.join(folder, f)):
                files[f] = os.path.join(folder, f)
    if tokenizer:
        for k in [k for k in files if re.match(r'^(tokenizer\.bin|tok\d+\.bin)$', k)]:
            del files[k]
        b = os.path.basename(tokenizer)
        files['tokenizer.json' if b.endswith('.json') else b if re.match(r'^tok\d+\.bin$', b) else 'tokenizer.bin'] = tokenizer
    return {k: v for k, v in files.items() if TOKENIZER_FILES.match(k)}


def fnv1a64(chunks):
    h, p, mask = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1
    for c in chunks:
        for b in c:
            h = ((h ^ b) * p) & mask
    return format(h, '016x')


HASH_LIMIT = 16_000_000  # sampled bytes (a model of ~28 M parameters); above it hashing in Python takes minutes


def model_hash(model):
    """src/fusion/export.ts modelHash (FNV-1a 64 over every 7th byte of the main weights), or None for a large model."""
    ts = [model.embed]
    for l in model.layers:
        ts += [l.attn.wq, l.attn.wk, l.attn.wv, l.attn.wo, l.mlp.up, l.mlp.down]
    ts.append(model.lm_head())
    ts = [t for t in ts if t is not None]
    if sum(t.numel() * 4 // 7 for t in ts) > HASH_LIMIT:
        return None
    return fnv1a64(tensor_bytes(_f32(t))[::7] for t in ts)


def export_model(model, path, tokenizer_files=None, experiment=None):
    """Writes the folder exportFusedModel writes; returns the file names in the lab's order."""
    os.makedirs(path, exist_ok=True)
    G = uniform_gqa(model)
    if hf_gqa_obstacle(model, G) is None:
        write_hf_gqa(model, G, path)
    else:
        write_dha(model, path)
    names = ['config.json', 'model.safetensors']
    if fits_llama2c(model):
        write_llama2c_legacy(model, path)
        names.append('model.bin')
    for name, src in (tokenizer_files or {}).items():
        with open(src, 'rb') as f, open(os.path.join(path, name), 'wb') as g:
            g.write(f.read())
        names.append(name)
    if experiment is not None:
        with open(os.path.join(path, 'experiment.json'), 'wb') as f:
            f.write(_json_file(experiment))
        names.append('experiment.json')
    return names
