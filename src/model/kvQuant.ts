// A quantised KV cache (KIVI / KVQuant style, docs/ALGORITHMS.md §5.9), the third way to a smaller cache beside fewer heads
// and a latent: asymmetric uniform quantisation per group of G values, x̂ = m + q·s with m = min and s = (max − m)/(2^b − 1)
// both rounded to f16 (each group stores them as two 16-bit numbers), q = round((x − m)/s) clamped to 0 … 2^b − 1. Keys are
// grouped per channel (G consecutive positions of one channel) or per token (G consecutive channels of one position),
// values always per token. The schedule, one rule for K and V: when the query at position t attends, the cache holds the
// positions of every whole group that lies at least R positions back (s ≤ t − R) quantised, the rest in full precision —
// KIVI's residual: the last R tokens, plus the group still filling, stay exact. With --keep-sink position 0 stays exact.
// Keys quantised before rotary (KVQuant) or after it (KIVI, Hugging Face's quantised cache). This module is the host side:
// the choice, the schedule, the packed layout and the bytes; src/gpu/kernels/kvQuant.ts runs it, src/reference/kvQuant.ts
// is its float64 reference.
import type { Model } from './types';
import { keptPairs } from './latent';

export type KvBits = 16 | 8 | 4 | 3 | 2;
export const KV_BITS: readonly KvBits[] = [16, 8, 4, 3, 2];
/** How keys are grouped: per channel (groups run along time) or per token (along channels, as values always are). */
export type KeyAxis = 'channel' | 'token';
/** Keys quantised before the rotary step (rotated after dequantising) or after it. */
export type KeyRope = 'pre' | 'post';

export interface KvQuant {
  /** Bits per cached value; 16: no quantisation (the lab's f32 cache, today's numbers exactly). */
  bits: KvBits;
  /** Values per group (along time for per-channel keys, along channels otherwise). */
  group: number;
  /** The most recent positions kept in full precision. */
  residual: number;
  keyAxis: KeyAxis;
  keyRope: KeyRope;
  /** Keep position 0 (the attention sink) in full precision. */
  keepSink: boolean;
}

/** KIVI's choices: groups of 32, per-channel keys, values per token, 32 recent tokens exact; keys after rotary as HF caches them. */
export const KV_QUANT_DEFAULTS: KvQuant = { bits: 16, group: 32, residual: 32, keyAxis: 'channel', keyRope: 'post', keepSink: false };

/** Whether this choice changes anything (16 bits: the plain cache). */
export function quantises(q: KvQuant | null | undefined): q is KvQuant {
  return Boolean(q && q.bits !== 16);
}

/** What is wrong with a choice, in words that name the limit (null: nothing). */
export function kvQuantProblem(q: KvQuant): string | null {
  if (!KV_BITS.includes(q.bits)) return `KV bits must be one of ${KV_BITS.join(', ')}; got ${q.bits}`;
  if (!Number.isInteger(q.group) || q.group < 2 || q.group > 1024) return `the KV group must be a whole number from 2 to 1024 values; got ${q.group}`;
  if (!Number.isInteger(q.residual) || q.residual < 0) return `the KV residual must be a whole number of positions ≥ 0; got ${q.residual}`;
  if (q.keyAxis !== 'channel' && q.keyAxis !== 'token') return `the key axis is "channel" or "token"; got "${String(q.keyAxis)}"`;
  if (q.keyRope !== 'pre' && q.keyRope !== 'post') return `keys are quantised "pre" or "post" rotary; got "${String(q.keyRope)}"`;
  return null;
}

/** One line naming the cache: "16-bit cache" or "4-bit KV (keys per channel after rotary, groups of 32, 32 recent exact, sink exact)". */
export function kvQuantLabel(q: KvQuant | null | undefined): string {
  if (!quantises(q)) return 'full-precision cache';
  const sink = q.keepSink ? ', sink exact' : '';
  return `${q.bits}-bit KV (keys per ${q.keyAxis} ${q.keyRope === 'pre' ? 'before' : 'after'} rotary, groups of ${q.group}, ${q.residual} recent exact${sink})`;
}

/** Positions 0 … n−1 held quantised when the query at position t attends: every whole group lying at least R back. */
export function quantisedPrefix(t: number, q: Pick<KvQuant, 'group' | 'residual'>): number {
  return Math.floor(Math.max(0, t - q.residual + 1) / q.group) * q.group;
}

/**
 * The most positions a forward call from pos0 may run so that every query in it sees the same quantised prefix (the cache
 * changes only between calls, as a real cache does between steps): up to the next position where another group flushes.
 */
export function quantisedChunk(pos0: number, want: number, q: Pick<KvQuant, 'group' | 'residual'>): number {
  const p = quantisedPrefix(pos0, q);
  let n = 1;
  while (n < want && quantisedPrefix(pos0 + n, q) === p) n++;
  return n;
}

/** Codes per 32-bit word: codes never straddle words (3 bits: 10 per word, 3.2 bits stored per value). */
export function codesPerWord(bits: KvBits): number {
  return Math.floor(32 / bits);
}

/** The packed layout of one cached tensor [B, cacheT, width] quantised along an axis: groups, words per group, buffer sizes. */
export interface PackedLayout {
  axis: KeyAxis;
  width: number;
  /** Words of codes per group (a full group). */
  wordsPerGroup: number;
  /** Groups per row of the group grid: position groups (per channel) or channel groups per position (per token). */
  groupRows: number;
  /** u32 words of codes and of scale/minimum pairs for B sequences of cacheT positions. */
  codeWords: number;
  paramWords: number;
}

export function packedLayout(q: Pick<KvQuant, 'bits' | 'group'>, axis: KeyAxis, width: number, B: number, cacheT: number): PackedLayout {
  const wordsPerGroup = Math.ceil(q.group / codesPerWord(q.bits as KvBits));
  if (axis === 'channel') {
    const groupRows = Math.ceil(cacheT / q.group);
    const groups = B * groupRows * width;
    return { axis, width, wordsPerGroup, groupRows, codeWords: groups * wordsPerGroup, paramWords: groups };
  }
  const groupRows = Math.ceil(width / q.group);
  const groups = B * cacheT * groupRows;
  return { axis, width, wordsPerGroup, groupRows, codeWords: groups * wordsPerGroup, paramWords: groups };
}

/** A layer's cache shape: K/V head counts and, for a latent layer, its rank and the rotary dims it caches per K head. */
export type CacheLayer = { kHeads: number; vHeads: number; latent?: { rank: number; rope: number } | null };

export function cacheLayers(model: Model): CacheLayer[] {
  return model.layers.map((l) => ({
    kHeads: l.kv.kHeads,
    vHeads: l.kv.vHeads,
    latent: l.latent ? { rank: l.latent.rank, rope: 2 * keptPairs(l.latent) } : null,
  }));
}

/** What a layer caches, as tensors of one width each and the axis their groups run along (a latent's rotary dims are keys). */
export function cachedTensors(headDim: number, l: CacheLayer, q: Pick<KvQuant, 'keyAxis'>): { width: number; axis: KeyAxis }[] {
  if (l.latent) return [{ width: l.latent.rank, axis: 'token' }, ...(l.latent.rope ? [{ width: l.kHeads * l.latent.rope, axis: q.keyAxis }] : [])];
  return [
    { width: l.kHeads * headDim, axis: q.keyAxis },
    { width: l.vHeads * headDim, axis: 'token' },
  ];
}

/** Bits one cached position of a tensor of this width costs when quantised (codes in whole words, plus 32 bits per group). */
export function quantisedBitsPerPosition(q: Pick<KvQuant, 'bits' | 'group'>, width: number, axis: KeyAxis): number {
  const vpw = codesPerWord(q.bits as KvBits);
  if (axis === 'channel') return (width * (Math.ceil(q.group / vpw) * 32 + 32)) / q.group;
  let bits = 0;
  for (let j = 0; j < width; j += q.group) bits += Math.ceil(Math.min(q.group, width - j) / vpw) * 32 + 32;
  return bits;
}

/** Bytes one position costs once quantised, over every layer's cached tensors (the exact window aside). */
export function quantisedBytesPerToken(headDim: number, layers: CacheLayer[], q: KvQuant): number {
  return layers.reduce((s, l) => s + cachedTensors(headDim, l, q).reduce((t, x) => t + quantisedBitsPerPosition(q, x.width, x.axis), 0), 0) / 8;
}

/** How many of a context's positions end up quantised (the last query's view of the cache). */
export function quantisedPositions(context: number, q: KvQuant): number {
  if (!quantises(q) || context < 1) return 0;
  const n = quantisedPrefix(context - 1, q);
  return q.keepSink && n > 0 ? n - 1 : n;
}

export interface KvCacheSize {
  /** Bytes per token averaged over a context of `context` positions (quantised positions and the exact window together). */
  bytesPerToken: number;
  /** Bytes of a whole context's cache. */
  bytes: number;
  /** Of those, the quantiser's scales and minimums. */
  overheadBytes: number;
  /** Positions quantised and kept exact. */
  quantised: number;
  exact: number;
}

/**
 * Bytes of the KV cache of a context of `context` positions, counted honestly: quantised positions at their packed codes plus
 * each group's two 16-bit numbers, the exact positions (the residual window, the group still filling, the sink) at
 * `exactBits` per value — 16 as a deployed cache stores them, 32 as the lab computes.
 */
export function kvCacheSize(headDim: number, layers: CacheLayer[], q: KvQuant | null, context: number, exactBits: 16 | 32 = 16): KvCacheSize {
  const quantised = q ? quantisedPositions(context, q) : 0;
  const exact = context - quantised;
  let bits = 0;
  let overhead = 0;
  for (const l of layers) {
    for (const t of cachedTensors(headDim, l, q ?? KV_QUANT_DEFAULTS)) {
      bits += exact * t.width * exactBits;
      if (quantised && q) {
        bits += quantised * quantisedBitsPerPosition(q, t.width, t.axis);
        const groups = t.axis === 'channel' ? t.width / q.group : Math.ceil(t.width / q.group);
        overhead += quantised * groups * 32;
      }
    }
  }
  const bytes = bits / 8;
  return { bytesPerToken: context ? bytes / context : 0, bytes, overheadBytes: overhead / 8, quantised, exact };
}

/**
 * A cache's size in words, against the plain 16-bit cache of the same layers at the same context: "4-bit KV (…): 318.2
 * bytes/token at a context of 175 — 50 % of the 16-bit cache's 640 (128 positions quantised, 47 exact)".
 */
export function kvCacheSizeText(q: KvQuant | null, size: KvCacheSize, plain: KvCacheSize): string {
  const pct = ((100 * size.bytesPerToken) / plain.bytesPerToken).toFixed(0);
  return `${kvQuantLabel(q)}: ${size.bytesPerToken.toFixed(1)} bytes/token at a context of ${size.quantised + size.exact} — ${pct} % of the 16-bit cache's ${plain.bytesPerToken.toFixed(0)} (${size.quantised} positions quantised, ${size.exact} exact)`;
}

/** The cache of a model's layers and a choice, per token, at a context (defaults: the model's context, 16-bit exact values). */
export function modelKvCacheSize(model: Model, q: KvQuant | null, context = model.config.contextLength, exactBits: 16 | 32 = 16): KvCacheSize {
  return kvCacheSize(model.config.headDim, cacheLayers(model), q, context, exactBits);
}

/** Parses the flags' values into a choice (unset fields keep the defaults); throws a RangeError naming the bad value. */
export function kvQuantFrom(v: { bits?: number; group?: number; residual?: number; keyAxis?: string; keyRope?: string; keepSink?: boolean }): KvQuant {
  const q: KvQuant = {
    bits: (v.bits ?? KV_QUANT_DEFAULTS.bits) as KvBits,
    group: v.group ?? KV_QUANT_DEFAULTS.group,
    residual: v.residual ?? KV_QUANT_DEFAULTS.residual,
    keyAxis: (v.keyAxis ?? KV_QUANT_DEFAULTS.keyAxis) as KeyAxis,
    keyRope: (v.keyRope ?? KV_QUANT_DEFAULTS.keyRope) as KeyRope,
    keepSink: v.keepSink ?? KV_QUANT_DEFAULTS.keepSink,
  };
  const bad = kvQuantProblem(q);
  if (bad) throw new RangeError(bad);
  return q;
}
