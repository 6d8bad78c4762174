// The layout of a latent-KV (MLA) layer (types.ts LatentKv): which dims of each K head keep RoPE and which come from the
// latent, the column maps that place the two parts into full-width keys (and split key gradients back), the rotation masks
// of queries and keys, and what the layer caches per token. One place for these, read by the GPU forward and backward, the
// float64 reference, the conversion and the loaders.
import type { LatentKv, LayerWeights, Model, ModelConfig } from './types';
import { pairDims, rotaryPairs } from './rotary';

/** Marks a column that the other part of the key fills (see gatherColumns). */
export const NO_COLUMN = 0xffffffff;

/** Rotary pairs each K head keeps (r, the same for every head). */
export function keptPairs(latent: Pick<LatentKv, 'ropePairs'>): number {
  return latent.ropePairs[0]?.length ?? 0;
}

/** A K head's kept rotary dims and its position-free dims, each ascending. */
export function headDims(c: ModelConfig, pairs: number[]): { rope: number[]; nope: number[] } {
  const rope = pairs.flatMap((p) => pairDims(c, p)).sort((a, b) => a - b);
  const kept = new Set(rope);
  const nope = Array.from({ length: c.headDim }, (_, d) => d).filter((d) => !kept.has(d));
  return { rope, nope };
}

export interface LatentColumns {
  /** Per full key column (kHeads·headDim): its column in the latent part [kHeads·nope], or NO_COLUMN. */
  fromNope: Uint32Array;
  /** Per full key column: its column in the rotary part [kHeads·2r], or NO_COLUMN. */
  fromRope: Uint32Array;
  /** Per latent-part column, its full key column (the split of a key gradient). */
  nopeCols: Uint32Array;
  /** Per rotary-part column, its full key column. */
  ropeCols: Uint32Array;
  nope: number;
  rope: number;
}

export function latentColumns(c: ModelConfig, latent: LatentKv): LatentColumns {
  const kHeads = latent.ropePairs.length;
  const dh = c.headDim;
  const r2 = 2 * keptPairs(latent);
  const nope = dh - r2;
  const fromNope = new Uint32Array(kHeads * dh).fill(NO_COLUMN);
  const fromRope = new Uint32Array(kHeads * dh).fill(NO_COLUMN);
  const nopeCols = new Uint32Array(kHeads * nope);
  const ropeCols = new Uint32Array(kHeads * r2);
  latent.ropePairs.forEach((pairs, h) => {
    const d = headDims(c, pairs);
    d.nope.forEach((dim, i) => {
      fromNope[h * dh + dim] = h * nope + i;
      nopeCols[h * nope + i] = h * dh + dim;
    });
    d.rope.forEach((dim, i) => {
      fromRope[h * dh + dim] = h * r2 + i;
      ropeCols[h * r2 + i] = h * dh + dim;
    });
  });
  return { fromNope, fromRope, nopeCols, ropeCols, nope, rope: r2 };
}

/** Rotation masks (1: the pair rotates) per head and pair: queries follow the K head they read. [heads·rotDims/2], [kHeads·rotDims/2]. */
export function rotaryKeep(c: ModelConfig, layer: LayerWeights): { q: Uint32Array; k: Uint32Array } {
  const half = rotaryPairs(c);
  const latent = layer.latent;
  const kHeads = layer.kv.kHeads;
  const k = new Uint32Array(Math.max(1, kHeads * half)).fill(latent ? 0 : 1);
  if (latent) latent.ropePairs.forEach((pairs, h) => pairs.forEach((p) => (k[h * half + p] = 1)));
  const q = new Uint32Array(Math.max(1, c.heads * half));
  layer.kv.kHeadOf.forEach((kh, h) => q.set(k.subarray(kh * half, (kh + 1) * half), h * half));
  return { q, k };
}

/**
 * Values a layer of this shape caches per token: K and V heads × headDim, or the latent plus the kept rotary dims of every
 * K head. From the shape alone, so that a head layout (the page's diagram) counts its cache as the model does.
 */
export function cachedValues(headDim: number, kv: { kHeads: number; vHeads: number }, latent?: Pick<LatentKv, 'rank' | 'ropePairs'> | null): number {
  if (!latent) return (kv.kHeads + kv.vHeads) * headDim;
  return latent.rank + kv.kHeads * 2 * keptPairs(latent);
}

/** Values a layer caches per token (cachedValues of its shape). */
export function kvValuesPerToken(c: ModelConfig, layer: LayerWeights): number {
  return cachedValues(c.headDim, layer.kv, layer.latent);
}

/** Checks a latent layer's shapes; throws naming the first that does not fit. */
export function validateLatent(c: ModelConfig, layer: LayerWeights, name: string): void {
  const L = layer.latent!;
  const half = rotaryPairs(c);
  const r = keptPairs(L);
  if (!(Number.isInteger(L.rank) && L.rank >= 1)) throw new Error(`model: ${name} latent rank must be a positive integer; got ${L.rank}`);
  if (L.ropePairs.length !== layer.kv.kHeads) throw new Error(`model: ${name} lists rotary pairs for ${L.ropePairs.length} K heads, not ${layer.kv.kHeads}`);
  for (const pairs of L.ropePairs) {
    if (pairs.length !== r || pairs.some((p, i) => !Number.isInteger(p) || p < 0 || p >= half || (i > 0 && p <= pairs[i - 1]))) {
      throw new Error(`model: ${name} rotary pairs must be ${r} ascending pair indices below ${half} per K head`);
    }
  }
  const expect = (what: string, t: Float32Array, n: number) => {
    if (t.length !== n) throw new Error(`model: ${name}.latent.${what} holds ${t.length} values, expected ${n}`);
  };
  const { dim: D, headDim: dh } = c;
  expect('wdkv', L.wdkv, L.rank * D);
  expect('wuk', L.wuk, layer.kv.kHeads * (dh - 2 * r) * L.rank);
  expect('wkr', L.wkr, layer.kv.kHeads * 2 * r * D);
  expect('wuv', L.wuv, layer.kv.vHeads * dh * L.rank);
  if (layer.attn.wk.length || layer.attn.wv.length) throw new Error(`model: ${name} has a latent and K/V projections; a latent layer keeps neither wk nor wv`);
}

/** Per layer, what its KV cache is made of (the shapes ForwardPass.bytesFor and Backward.sizes plan with). */
export function layerKvShapes(model: Model): { kHeads: number; vHeads: number; latent: { rank: number; nope: number; rope: number } | null }[] {
  return model.layers.map((l) => {
    const r2 = l.latent ? 2 * keptPairs(l.latent) : 0;
    return { kHeads: l.kv.kHeads, vHeads: l.kv.vHeads, latent: l.latent ? { rank: l.latent.rank, nope: model.config.headDim - r2, rope: r2 } : null };
  });
}
