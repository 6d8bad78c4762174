// Rotary tables, computed the way the reference implementations do in float32: inverse frequencies θ^(−2p/rotDims)
// rounded to f32, angles position·inv_freq rounded to f32, then cos and sin. Matching their rounding keeps our logits within
// float32 noise of theirs at long positions.
import type { ModelConfig } from '../model/types';

/** Rounds to bfloat16 (round to nearest even), as torch's .to(torch.bfloat16). */
export function roundBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = (u[0] + 0x7fff + ((u[0] >> 16) & 1)) & 0xffff0000;
  return f[0];
}

/** Rounds to float16 (normal range; round to nearest even). */
export function roundF16(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const step = 2 ** (Math.max(e, -14) - 10);
  const q = x / step;
  const r = Math.round(q);
  const even = Math.abs(q - Math.trunc(q)) === 0.5 ? 2 * Math.round(q / 2) : r;
  return even * step;
}

export function invFreqRounding(c: ModelConfig): (x: number) => number {
  const p = c.positional.kind === 'rotary' ? c.positional.invFreqPrecision : undefined;
  return p === 'bf16' ? roundBf16 : p === 'f16' ? roundF16 : Math.fround;
}

export function rotaryDims(c: ModelConfig): number {
  if (c.positional.kind !== 'rotary') return 0;
  const rd = Math.floor(c.headDim * c.positional.fraction);
  return rd - (rd % 2);
}

export function rotaryTables(
  positions: number,
  rotDims: number,
  theta: number,
  roundInv: (x: number) => number = Math.fround,
): { cos: Float32Array; sin: Float32Array } {
  const half = rotDims / 2;
  const cos = new Float32Array(Math.max(positions * half, 1));
  const sin = new Float32Array(Math.max(positions * half, 1));
  const f = Math.fround;
  const inv = Array.from({ length: half }, (_, p) => roundInv(f(1 / f(Math.pow(theta, f((2 * p) / rotDims))))));
  for (let t = 0; t < positions; t++) {
    for (let p = 0; p < half; p++) {
      const angle = f(t * inv[p]);
      cos[t * half + p] = Math.cos(angle);
      sin[t * half + p] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
