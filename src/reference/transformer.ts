// CPU references, in float64, for the transformer kernels and for a whole forward pass over the family-free Model. Written
// to read like nanoGPT's model.py: the tests compare the GPU with these, and these with Hugging Face's golden logits.
import type { Model } from '../model/types';
import { modelRotaryTables, planeDims, rotaryDims } from '../model/rotary';
import { erfcNonNeg } from './linalg';
import { mulABt } from '../linalg/hostMatrix';
import { latentColumns, NO_COLUMN, rotaryKeep } from '../model/latent';
import { quantisedPrefix, quantises, type KeyAxis, type KvQuant } from '../model/kvQuant';
import { quantiseRef } from './kvQuant';

type Vec = ArrayLike<number>;

export function normRef(kind: 'rmsnorm' | 'layernorm', x: Vec, w: Vec, b: Vec | undefined, rows: number, dim: number, eps: number): Float64Array {
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    if (kind === 'rmsnorm') {
      let ss = 0;
      for (let c = 0; c < dim; c++) ss += x[o + c] * x[o + c];
      const inv = 1 / Math.sqrt(ss / dim + eps);
      for (let c = 0; c < dim; c++) y[o + c] = x[o + c] * inv * w[c];
    } else {
      let s = 0;
      for (let c = 0; c < dim; c++) s += x[o + c];
      const mean = s / dim;
      let ss = 0;
      for (let c = 0; c < dim; c++) ss += (x[o + c] - mean) ** 2;
      const inv = 1 / Math.sqrt(ss / dim + eps);
      for (let c = 0; c < dim; c++) y[o + c] = (x[o + c] - mean) * inv * w[c] + (b ? b[c] : 0);
    }
  }
  return y;
}

/**
 * Rotates rows [n, heads·headDim] at positions pos[r] (float64 angles from the same f32 tables the GPU uses). `keep`
 * [heads·rotDims/2]: 0 leaves that head's pair unrotated (partial RoPE).
 */
export function ropeRef(
  x: Vec,
  rows: number,
  heads: number,
  headDim: number,
  rotDims: number,
  style: 'interleaved' | 'half',
  positions: (r: number) => number,
  cos: Vec,
  sin: Vec,
  keep?: Vec,
): Float64Array {
  const y = Float64Array.from(x as ArrayLike<number>);
  const half = rotDims / 2;
  for (let r = 0; r < rows; r++) {
    const pos = positions(r);
    for (let h = 0; h < heads; h++) {
      const o = r * heads * headDim + h * headDim;
      for (let p = 0; p < half; p++) {
        if (keep && !keep[h * half + p]) continue;
        const [i0, i1] = planeDims(style, rotDims, p);
        const c = cos[pos * half + p];
        const s = sin[pos * half + p];
        const a = x[o + i0];
        const b = x[o + i1];
        y[o + i0] = a * c - b * s;
        y[o + i1] = a * s + b * c;
      }
    }
  }
  return y;
}

/**
 * Causal attention of T queries (positions pos0 + t) over keys 0 … pos0 + t of one sequence, through the head maps.
 * q: [T, heads·dh]; k: [n, kHeads·dh]; v: [n, vHeads·dh].
 */
export function attentionRef(
  q: Vec,
  k: Vec,
  v: Vec,
  s: { T: number; pos0: number; heads: number; kHeads: number; vHeads: number; headDim: number; window: number; scale: number },
  kHeadOf: number[],
  vHeadOf: number[],
  cached?: { k: Vec; v: Vec; prefix: (i: number) => number },
): Float64Array {
  const { T, pos0, heads, kHeads, vHeads, headDim: dh, window, scale } = s;
  const out = new Float64Array(T * heads * dh);
  for (let t = 0; t < T; t++) {
    const i = pos0 + t;
    const lo = window > 0 ? Math.max(0, i + 1 - window) : 0;
    // a quantised cache: keys and values before prefix(i) are read as the cache holds them
    const n = cached ? cached.prefix(i) : 0;
    const kAt = (j: number) => (j < n ? cached!.k : k);
    const vAt = (j: number) => (j < n ? cached!.v : v);
    for (let h = 0; h < heads; h++) {
      const scores: number[] = [];
      for (let j = lo; j <= i; j++) {
        let dot = 0;
        for (let d = 0; d < dh; d++) dot += q[t * heads * dh + h * dh + d] * kAt(j)[j * kHeads * dh + kHeadOf[h] * dh + d];
        scores.push(scale * dot);
      }
      const m = Math.max(...scores);
      const e = scores.map((x) => Math.exp(x - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < dh; d++) {
        let acc = 0;
        for (let j = lo; j <= i; j++) acc += (e[j - lo] / z) * vAt(j)[j * vHeads * dh + vHeadOf[h] * dh + d];
        out[t * heads * dh + h * dh + d] = acc;
      }
    }
  }
  return out;
}

/** y[r, j] = x[r, map[j]] where map[j] is not NO_COLUMN; y's other columns keep `y0`'s values (zeros when absent). */
export function gatherColumnsRef(x: Vec, map: Vec, rows: number, xWidth: number, yWidth: number, y0?: Vec): Float64Array {
  const y = y0 ? Float64Array.from(y0 as ArrayLike<number>) : new Float64Array(rows * yWidth);
  for (let r = 0; r < rows; r++) for (let j = 0; j < yWidth; j++) if (map[j] !== NO_COLUMN) y[r * yWidth + j] = x[r * xWidth + map[j]];
  return y;
}

/** y = x·Wᵀ + b, each entry the bias plus a dot product over the inputs in order. */
function linear(x: Float64Array, rows: number, inDim: number, w: Vec, outDim: number, bias?: Vec): Float64Array {
  return mulABt(x, w, rows, outDim, inDim, { bias });
}

function gelu(x: number, kind: 'gelu_tanh' | 'gelu_erf'): number {
  if (kind === 'gelu_tanh') return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const r = erfcNonNeg(Math.abs(x) / Math.SQRT2);
  return x >= 0 ? 0.5 * x * (2 - r) : 0.5 * x * r;
}

/**
 * Logits [T, vocab] of one sequence, in float64. `onAttentionInput` sees each layer's normed attention input [T, dim]. With
 * `kvQuant` (src/model/kvQuant.ts) the query at position i reads positions before quantisedPrefix(i) as the quantised cache
 * holds them: the latent and its rotary key dims quantised (a latent layer), or keys before or after rotary and values.
 */
export function forwardRef(model: Model, ids: number[], onAttentionInput?: (layer: number, x: Float64Array) => void, kvQuant?: KvQuant | null): Float64Array {
  const c = model.config;
  const T = ids.length;
  const D = c.dim;
  const dh = c.headDim;
  let x = new Float64Array(T * D);
  ids.forEach((id, t) => {
    for (let d = 0; d < D; d++) x[t * D + d] = model.embed[id * D + d] + (model.positionEmbed ? model.positionEmbed[t * D + d] : 0);
  });
  const rot = c.positional.kind === 'rotary' ? c.positional : null;
  const rd = rotaryDims(c);
  const tables = rot ? modelRotaryTables(c, T) : null;
  const q8 = quantises(kvQuant) ? kvQuant : null;
  /** A cached tensor [T, width] as the quantised cache holds every position (only whole groups before the prefix are read). */
  const held = (y: Float64Array, width: number, axis: KeyAxis) => quantiseRef(y, { B: 1, cacheT: T, width, from: 0, to: T, axis, ...q8! });
  model.layers.forEach((l, li) => {
    const kv = l.kv;
    const h1 = normRef(c.norm, x, l.attnNorm.weight, l.attnNorm.bias, T, D, c.normEps);
    onAttentionInput?.(li, h1);
    let q: Float64Array = linear(h1, T, D, l.attn.wq, c.heads * dh, l.attn.bq);
    const keep = l.latent ? rotaryKeep(c, l) : null;
    const rotate = (y: Float64Array, heads: number, mask?: Vec) =>
      rot && tables ? ropeRef(y, T, heads, dh, rd, rot.style, (r) => r, tables.cos, tables.sin, mask) : y;
    /** Keys (before rotary) and values of every position, from the layer's input or from what a quantised cache holds. */
    let keysValues: (quantised: boolean) => { k: Float64Array; v: Float64Array };
    if (l.latent) {
      // c = x·W_dkvᵀ; keys from the latent's position-free part and x's kept rotary part; values from the latent
      const L = l.latent;
      const cols = latentColumns(c, L);
      const lat0 = linear(h1, T, D, L.wdkv, L.rank);
      const kr0 = linear(h1, T, D, L.wkr, kv.kHeads * cols.rope);
      keysValues = (quantised) => {
        const lat = quantised ? held(lat0, L.rank, 'token') : lat0;
        const kr = quantised && cols.rope ? held(kr0, kv.kHeads * cols.rope, q8!.keyAxis) : kr0;
        const kn = linear(lat, T, L.rank, L.wuk, kv.kHeads * cols.nope);
        const k = gatherColumnsRef(
          kr,
          cols.fromRope,
          T,
          kv.kHeads * cols.rope,
          kv.kHeads * dh,
          gatherColumnsRef(kn, cols.fromNope, T, kv.kHeads * cols.nope, kv.kHeads * dh),
        );
        if (l.attn.bk) for (let i = 0; i < k.length; i++) k[i] += l.attn.bk[i % (kv.kHeads * dh)];
        return { k, v: linear(lat, T, L.rank, L.wuv, kv.vHeads * dh, l.attn.bv) };
      };
    } else {
      const k0 = linear(h1, T, D, l.attn.wk, kv.kHeads * dh, l.attn.bk);
      const v0 = linear(h1, T, D, l.attn.wv, kv.vHeads * dh, l.attn.bv);
      keysValues = (quantised) => {
        if (!quantised) return { k: k0, v: v0 };
        const v = held(v0, kv.vHeads * dh, 'token');
        if (q8!.keyRope === 'pre') return { k: held(k0, kv.kHeads * dh, q8!.keyAxis), v };
        return { k: held(rotate(k0, kv.kHeads), kv.kHeads * dh, q8!.keyAxis), v }; // keys after rotary: already rotated
      };
    }
    q = rotate(q, c.heads, keep?.q);
    const exact = keysValues(false);
    const k = rotate(exact.k, kv.kHeads, keep?.k);
    let cached: { k: Float64Array; v: Float64Array; prefix: (i: number) => number } | undefined;
    if (q8) {
      const h = keysValues(true);
      const postRotary = !l.latent && q8.keyRope === 'post';
      cached = { k: postRotary ? h.k : rotate(h.k, kv.kHeads, keep?.k), v: h.v, prefix: (i) => quantisedPrefix(i, q8) };
    }
    const att = attentionRef(
      q,
      k,
      exact.v,
      { T, pos0: 0, heads: c.heads, kHeads: kv.kHeads, vHeads: kv.vHeads, headDim: dh, window: c.attentionWindow[li] ?? 0, scale: c.attentionScale },
      kv.kHeadOf,
      kv.vHeadOf,
      cached,
    );
    const o = linear(att, T, c.heads * dh, l.attn.wo, D, l.attn.bo);
    const mlpIn = c.parallelResidual ? x : x.map((xv, i) => xv + o[i]);
    const h2 = normRef(c.norm, mlpIn, l.mlpNorm.weight, l.mlpNorm.bias, T, D, c.normEps);
    let a: Float64Array;
    if (c.mlp === 'swiglu') {
      const g = linear(h2, T, D, l.mlp.gate!, c.ffnDim, l.mlp.gateBias);
      const u = linear(h2, T, D, l.mlp.up, c.ffnDim, l.mlp.upBias);
      a = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]);
    } else {
      const kind = c.mlp;
      a = linear(h2, T, D, l.mlp.up, c.ffnDim, l.mlp.upBias).map((u) => gelu(u, kind));
    }
    const m = linear(a, T, c.ffnDim, l.mlp.down, D, l.mlp.downBias);
    x = c.parallelResidual ? x.map((xv, i) => xv + o[i] + m[i]) : mlpIn.map((xv, i) => xv + m[i]);
  });
  const hf = normRef(c.norm, x, model.finalNorm.weight, model.finalNorm.bias, T, D, c.normEps);
  return linear(hf, T, D, model.lmHead, c.vocab, model.lmHeadBias);
}
