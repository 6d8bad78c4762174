// Rotary geometry of a model, in one place: which dims of a head rotate (rotaryDims), how they pair up into planes
// (pair p rotates the two dims pairDims gives: consecutive for 'interleaved', p and p + rotDims/2 for rotate-half), and the
// frequency tables. The tables are computed the way the reference implementations do in float32: inverse frequencies
// θ^(−2p/rotDims) rounded to f32 (or to the checkpoint's bf16/f16, see invFreqRounding), angles position·inv_freq rounded
// to f32, then cos and sin. Matching their rounding keeps our logits within float32 noise of theirs at long positions.
// Read by the GPU forward and backward, the float64 references, the similarity metrics, alignment and the conversions.
import type { Model, ModelConfig, RotaryStyle } from './types';

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

/** The rounding of the inverse frequencies: the checkpoint's invFreqPrecision, float32 by default. */
export function invFreqRounding(c: ModelConfig): (x: number) => number {
  const p = c.positional.kind === 'rotary' ? c.positional.invFreqPrecision : undefined;
  return p === 'bf16' ? roundBf16 : p === 'f16' ? roundF16 : Math.fround;
}

/** Dims of each head that rotate (even; 0 without rotary positions). */
export function rotaryDims(c: ModelConfig): number {
  if (c.positional.kind !== 'rotary') return 0;
  const rd = Math.floor(c.headDim * c.positional.fraction);
  return rd - (rd % 2);
}

/** Rotary pairs (planes) of a head: rotaryDims / 2. */
export function rotaryPairs(c: ModelConfig): number {
  return rotaryDims(c) / 2;
}

/** How the rotating dims pair up ('half' without rotary positions, where nothing rotates). */
export function rotaryStyle(c: ModelConfig): RotaryStyle {
  return c.positional.kind === 'rotary' ? c.positional.style : 'half';
}

/** The base θ of the frequencies (10000 without rotary positions, where the tables are never read). */
export function rotaryTheta(c: ModelConfig): number {
  return c.positional.kind === 'rotary' ? c.positional.theta : 10000;
}

/** The two dims (within a head) of rotary pair p of a head with rotDims rotating dims. */
export function planeDims(style: RotaryStyle, rotDims: number, p: number): [number, number] {
  return style === 'interleaved' ? [2 * p, 2 * p + 1] : [p, p + rotDims / 2];
}

/** The two dims (within a head) of rotary pair p: consecutive (interleaved) or p and p + rotDims/2 (rotate-half). */
export function pairDims(c: ModelConfig, p: number): [number, number] {
  return planeDims(rotaryStyle(c), rotaryDims(c), p);
}

/** Every rotary plane of a head, pair by pair: pairDims of pairs 0 … rotaryPairs − 1. */
export function rotaryPlanes(model: Pick<Model, 'config'>): [number, number][] {
  return Array.from({ length: rotaryPairs(model.config) }, (_, p) => pairDims(model.config, p));
}

/** cos and sin of position·inv_freq, [positions, rotDims/2] (at least one value each). */
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

/** A model's tables for positions 0 … positions − 1 (a single zero each without rotary positions). */
export function modelRotaryTables(c: ModelConfig, positions: number): { cos: Float32Array; sin: Float32Array } {
  return rotaryTables(positions, rotaryDims(c), rotaryTheta(c), invFreqRounding(c));
}
