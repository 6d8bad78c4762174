// Function-preserving and head-merging edits of a Model's attention, layer by layer. Everything here works on the loaders'
// representation (PyTorch out×in rows, per-layer K/V head maps), so every method (mean-pool, aligned merge, DHA) ends in
// `mergeHeads` and every result runs in the ordinary forward pass.
//
// Conventions (docs/ALGORITHMS.md §0): a head's activation is y = x W_h with W_h ∈ R^{dim×dh}; the stored rows of that head are
// W_hᵀ. A rotation R (dh×dh) applied as y ↦ y R therefore maps stored rows to Rᵀ·rows.
import type { KvLayout, LayerWeights, Model } from '../model/types';
import { originOf } from '../model/heads';
import { mul, mulAtB, transpose } from '../linalg/hostMatrix';

/** A dh×dh matrix in row-major float64. */
export type HeadMap = Float64Array;

/** rows' = Mᵀ · rows for each head block of a [n·dh, dim] matrix (heads listed in `which`, others copied). */
function transformRows(w: Float32Array, dh: number, dim: number, mats: (HeadMap | null)[]): Float32Array {
  const out = Float32Array.from(w);
  mats.forEach((M, h) => {
    if (!M) return;
    const base = h * dh * dim;
    out.set(mul(transpose(M, dh, dh), w.subarray(base, base + dh * dim), dh, dh, dim), base);
  });
  return out;
}

function transformBias(b: Float32Array | undefined, dh: number, mats: (HeadMap | null)[]): Float32Array | undefined {
  if (!b) return b;
  const out = Float32Array.from(b);
  mats.forEach((M, h) => {
    if (!M) return;
    out.set(mulAtB(M, b.subarray(h * dh, (h + 1) * dh), dh, dh, 1), h * dh);
  });
  return out;
}

/**
 * Folds one rotation per K head into W_K and the W_Q of every query head that reads it (W ← W R), and one orthogonal map per
 * V head into W_V (W ← W Q) and the W_O of every query head that reads it (W_O,h ← Qᵀ W_O,h). The model computes the same
 * function when each K rotation is block-diagonal with SO(2) blocks on the rotary planes (any orthogonal block on dims that do
 * not rotate) and each V map is orthogonal (docs/ALGORITHMS.md §2.5).
 */
export function foldRotations(model: Model, layer: number, kRot: (HeadMap | null)[], vRot: (HeadMap | null)[]): Model {
  const { dim, headDim: dh, heads } = model.config;
  const l = model.layers[layer];
  const qMats = Array.from({ length: heads }, (_, h) => kRot[l.kv.kHeadOf[h]] ?? null);
  const woNew = Float32Array.from(l.attn.wo);
  const cols = heads * dh;
  for (let h = 0; h < heads; h++) {
    const Q = vRot[l.kv.vHeadOf[h]];
    if (!Q) continue;
    for (let r = 0; r < dim; r++) {
      for (let a = 0; a < dh; a++) {
        let s = 0;
        for (let b = 0; b < dh; b++) s += Q[b * dh + a] * l.attn.wo[r * cols + h * dh + b];
        woNew[r * cols + h * dh + a] = s;
      }
    }
  }
  const attn = {
    ...l.attn,
    wq: transformRows(l.attn.wq, dh, dim, qMats),
    bq: transformBias(l.attn.bq, dh, qMats),
    wk: transformRows(l.attn.wk, dh, dim, kRot),
    bk: transformBias(l.attn.bk, dh, kRot),
    wv: transformRows(l.attn.wv, dh, dim, vRot),
    bv: transformBias(l.attn.bv, dh, vRot),
    wo: woNew,
  };
  return withLayer(model, layer, { ...l, attn });
}

function withLayer(model: Model, layer: number, l: LayerWeights): Model {
  return { ...model, layers: model.layers.map((x, i) => (i === layer ? l : x)) };
}

/** How one layer's K heads and V heads are merged: groups of current heads, each group becoming one new head. */
export interface LayerMerge {
  kGroups: number[][];
  vGroups: number[][];
  /** The weight of each member in its fused head, per group (default: 1/n, the mean). */
  kCoef?: number[][];
  vCoef?: number[][];
}

function checkPartition(groups: number[][], n: number, what: string) {
  const seen = new Array<boolean>(n).fill(false);
  for (const g of groups) {
    if (!g.length) throw new Error(`${what}: an empty group`);
    for (const h of g) {
      if (!Number.isInteger(h) || h < 0 || h >= n) throw new Error(`${what}: head ${h} does not exist (the layer has ${n})`);
      if (seen[h]) throw new Error(`${what}: head ${h} is in two groups`);
      seen[h] = true;
    }
  }
  const missing = seen.findIndex((s) => !s);
  if (missing >= 0) throw new Error(`${what}: head ${missing} is in no group`);
}

function combineRows(w: Float32Array, rowLen: number, groups: number[][], coef?: number[][]): Float32Array {
  const out = new Float32Array(groups.length * rowLen);
  groups.forEach((g, gi) => {
    const acc = new Float64Array(rowLen);
    g.forEach((h, m) => {
      const c = coef ? coef[gi][m] : 1 / g.length;
      for (let k = 0; k < rowLen; k++) acc[k] += c * w[h * rowLen + k];
    });
    out.set(acc, gi * rowLen);
  });
  return out;
}

/**
 * Replaces each group of K heads (and of V heads) by one head Σ c_i W_i (the mean by default); every query head that read a
 * member now reads the group's head. K and V groups are independent (DHA's decoupled heads); `null` keeps a layer as it is.
 */
export function mergeHeads(model: Model, merges: (LayerMerge | null)[]): Model {
  const { dim, headDim: dh } = model.config;
  return {
    ...model,
    layers: model.layers.map((l, li) => {
      const m = merges[li];
      if (!m) return l;
      checkPartition(m.kGroups, l.kv.kHeads, `layer ${li} K groups`);
      checkPartition(m.vGroups, l.kv.vHeads, `layer ${li} V groups`);
      return {
        ...l,
        attn: {
          ...l.attn,
          wk: combineRows(l.attn.wk, dh * dim, m.kGroups, m.kCoef),
          bk: l.attn.bk && combineRows(l.attn.bk, dh, m.kGroups, m.kCoef),
          wv: combineRows(l.attn.wv, dh * dim, m.vGroups, m.vCoef),
          bv: l.attn.bv && combineRows(l.attn.bv, dh, m.vGroups, m.vCoef),
        },
        kv: mergedLayout(l.kv, m.kGroups, m.vGroups),
      };
    }),
  };
}

/**
 * The layout after merging groups of K heads and of V heads: every query head reads its old head's group, and each new head
 * records the original heads of its members.
 */
export function mergedLayout(kv: KvLayout, kGroups: number[][], vGroups: number[][]): KvLayout {
  const groupOf = (groups: number[][], n: number) => {
    const out = new Array<number>(n);
    groups.forEach((g, gi) => g.forEach((h) => (out[h] = gi)));
    return out;
  };
  const kGroupOf = groupOf(kGroups, kv.kHeads);
  const vGroupOf = groupOf(vGroups, kv.vHeads);
  const o = originOf(kv);
  const merge = (heads: number[][], groups: number[][]) => groups.map((g) => g.flatMap((h) => heads[h]).sort((a, b) => a - b));
  return {
    kHeads: kGroups.length,
    vHeads: vGroups.length,
    kHeadOf: kv.kHeadOf.map((k) => kGroupOf[k]),
    vHeadOf: kv.vHeadOf.map((v) => vGroupOf[v]),
    origin: { q: [...o.q], k: merge(o.k, kGroups), v: merge(o.v, vGroups) },
  };
}

function permuteBlocks(w: Float32Array, block: number, order: number[]): Float32Array {
  const out = new Float32Array(w.length);
  order.forEach((src, dst) => out.set(w.subarray(src * block, (src + 1) * block), dst * block));
  return out;
}

/**
 * Reorders one layer's query heads: new head i is old head order[i] (rows of W_Q, columns of W_O, the head maps). The model
 * computes the same function (attention output is a sum over heads).
 */
export function permuteQueryHeads(model: Model, layer: number, order: number[]): Model {
  const { dim, headDim: dh, heads } = model.config;
  if (order.length !== heads || new Set(order).size !== heads || order.some((h) => h < 0 || h >= heads)) {
    throw new Error(`layer ${layer}: a query-head order must list each of the ${heads} heads once`);
  }
  const l = model.layers[layer];
  const cols = heads * dh;
  const wo = new Float32Array(l.attn.wo.length);
  for (let r = 0; r < dim; r++) order.forEach((src, dst) => wo.set(l.attn.wo.subarray(r * cols + src * dh, r * cols + (src + 1) * dh), r * cols + dst * dh));
  return withLayer(model, layer, {
    ...l,
    attn: {
      ...l.attn,
      wq: permuteBlocks(l.attn.wq, dh * dim, order),
      bq: l.attn.bq && permuteBlocks(l.attn.bq, dh, order),
      wo,
    },
    kv: {
      ...l.kv,
      kHeadOf: order.map((h) => l.kv.kHeadOf[h]),
      vHeadOf: order.map((h) => l.kv.vHeadOf[h]),
      origin: { ...originOf(l.kv), q: order.map((h) => originOf(l.kv).q[h]) },
    },
  });
}

/** Reorders one layer's K heads and V heads by the same order (GQA-shaped layers, where K and V groups coincide). */
export function permuteKvHeads(model: Model, layer: number, order: number[]): Model {
  const { dim, headDim: dh } = model.config;
  const l = model.layers[layer];
  if (l.kv.kHeads !== l.kv.vHeads || order.length !== l.kv.kHeads) throw new Error(`layer ${layer}: the order must list its ${l.kv.kHeads} KV heads`);
  const inv = new Array<number>(order.length);
  order.forEach((src, dst) => (inv[src] = dst));
  return withLayer(model, layer, {
    ...l,
    attn: {
      ...l.attn,
      wk: permuteBlocks(l.attn.wk, dh * dim, order),
      bk: l.attn.bk && permuteBlocks(l.attn.bk, dh, order),
      wv: permuteBlocks(l.attn.wv, dh * dim, order),
      bv: l.attn.bv && permuteBlocks(l.attn.bv, dh, order),
    },
    kv: {
      ...l.kv,
      kHeadOf: l.kv.kHeadOf.map((k) => inv[k]),
      vHeadOf: l.kv.vHeadOf.map((v) => inv[v]),
      origin: { ...originOf(l.kv), k: order.map((i) => originOf(l.kv).k[i]), v: order.map((i) => originOf(l.kv).v[i]) },
    },
  });
}

/**
 * Makes a layer whose K and V maps coincide GQA-contiguous: query heads sorted by the KV head they read (stable), so KV head g
 * serves a contiguous block. Returns the model unchanged where K and V maps differ.
 */
export function makeContiguous(model: Model, layer: number): Model {
  const kv = model.layers[layer].kv;
  if (kv.kHeadOf.some((k, h) => kv.vHeadOf[h] !== k)) return model;
  const order = Array.from({ length: kv.kHeadOf.length }, (_, h) => h).sort((a, b) => kv.kHeadOf[a] - kv.kHeadOf[b] || a - b);
  return permuteQueryHeads(model, layer, order);
}

/**
 * The GQA group count when every layer has the same count, K = V, and contiguous equal groups (HF `num_key_value_heads`);
 * null for any other layout, a latent (MLA) layer included.
 */
export function uniformGqa(model: Model): number | null {
  const H = model.config.heads;
  if (model.layers.some((l) => l.latent)) return null;
  const G = model.layers[0].kv.kHeads;
  for (const l of model.layers) {
    if (l.kv.kHeads !== G || l.kv.vHeads !== G || H % G) return null;
    for (let h = 0; h < H; h++) {
      const g = Math.floor((h * G) / H);
      if (l.kv.kHeadOf[h] !== g || l.kv.vHeadOf[h] !== g) return null;
    }
  }
  return G;
}
