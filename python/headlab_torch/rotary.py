# Rotary geometry of a model, as src/model/rotary.ts computes it: which dims of a head rotate, how they pair up into planes
# (consecutive pairs for llama2.c's 'interleaved', p and p + rotDims/2 for rotate-half), and the tables — inverse
# frequencies θ^(−2p/rotDims) rounded to float32 (or to the checkpoint's bf16/f16), angles position·inv_freq rounded to
# float32, then cos and sin rounded to float32, exactly the lab's rounding.
import math

import torch


def rotary_dims(c):
    """Dims of each head that rotate (even; 0 without rotary positions)."""
    pos = c['positional']
    if pos['kind'] != 'rotary':
        return 0
    rd = math.floor(c['headDim'] * pos['fraction'])
    return rd - rd % 2


def rotary_pairs(c):
    return rotary_dims(c) // 2


def rotary_style(c):
    pos = c['positional']
    return pos['style'] if pos['kind'] == 'rotary' else 'half'


def plane_dims(style, rot_dims, p):
    """The two dims (within a head) of rotary pair p."""
    return (2 * p, 2 * p + 1) if style == 'interleaved' else (p, p + rot_dims // 2)


def pair_dims(c, p):
    return plane_dims(rotary_style(c), rotary_dims(c), p)


def _f32(x):
    return x.to(torch.float32).to(torch.float64)


def rotary_tables(c, positions):
    """cos and sin [positions, rotDims/2] as float32 values (held in float64), the lab's modelRotaryTables."""
    rd = rotary_dims(c)
    half = rd // 2
    pos = c['positional']
    p = torch.arange(half, dtype=torch.float64)
    theta = float(pos.get('theta', 10000))
    inv = _f32(1 / _f32(torch.pow(torch.tensor(theta, dtype=torch.float64), _f32(2 * p / max(rd, 1)))))
    precision = pos.get('invFreqPrecision') or 'f32'
    if precision == 'bf16':
        inv = inv.to(torch.float32).to(torch.bfloat16).to(torch.float64)
    elif precision == 'f16':
        inv = inv.to(torch.float32).to(torch.float16).to(torch.float64)
    t = torch.arange(positions, dtype=torch.float64)
    angle = _f32(t[:, None] * inv[None, :])
    return _f32(torch.cos(angle)), _f32(torch.sin(angle))
