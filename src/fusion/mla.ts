// Latent KV (MLA) conversion of a trained MHA/GQA model (docs/ALGORITHMS.md §6; the papers in docs/FUSION.md):
//   1. partial RoPE: every K head keeps RoPE on r of its rotary pairs (MHA2MLA's S_high, S_low, S_uniform, or a 2-norm
//      ranking of the pairs by their queries' and keys' energy on the calibration text); the other pairs lose position
//      (queries and keys both stop rotating there: their scores change, which recovery training repairs);
//   2. one latent per layer: a joint rank-d_c factorisation of the position-free key rows and the value rows stacked,
//      [W_k,nope ; W_v] ≈ W_up · W_dkv, from the weights (SVD, MHA2MLA's SVD_joint) or activation-aware (the error measured
//      on the calibration Gram, keys and values first balanced to equal energy, as TransMLA and Palu do).
// At the full rank with every pair kept the converted model is the original (the exactness test).
import type { LatentKv, LayerWeights, Model } from '../model/types';
import type { LayerGram } from '../analysis/calibration';
import { assertHeadKv } from '../model/heads';
import { headDims } from '../model/latent';
import { pairDims, rotaryPairs } from '../model/rotary';
import { symmetricEigen } from '../analysis/eigen';
import { column, dot, mul, mulABt, mulAdd, mulAtA, mulVec } from '../linalg/hostMatrix';
import type { LongWorkOptions } from '../progress';
import { throwIfAborted } from '../progress';

import { MLA_DEFAULTS, type LatentInit, type RopeSelect } from './mlaDefaults';

export { LATENT_INITS, MLA_DEFAULTS, ROPE_SELECTS, type LatentInit, type RopeSelect } from './mlaDefaults';

export interface MlaOptions {
  /** Share of the original KV values per token kept (the same meaning as the other methods' budget). */
  budget: number;
  ropeSelect?: RopeSelect;
  latentInit?: LatentInit;
  /** Rotary pairs each K head keeps (default: from the head dim and the budget, see mlaSizes). */
  ropePairs?: number;
}

/** Stacked position-free key rows and value rows of a layer: n = kHeads·(dh − 2r) + vHeads·dh. */
function stackedRows(model: Model, layer: number, r: number): number {
  const l = model.layers[layer];
  return l.kv.kHeads * (model.config.headDim - 2 * r) + l.kv.vHeads * model.config.headDim;
}

/**
 * The latent width d_c and the kept pairs r of a layer at a budget: the layer's original K and V values per token times the
 * budget, less the kept rotary dims of every K head. r defaults to as many pairs as fit in half the budget (all of them at
 * most; none where not one pair per K head fits): half to position, half to the latent. Measured against MHA2MLA's d_h/16
 * (an eighth of the pairs) and our earlier quarter on both test models at 25 % and 50 % (docs/RESULTS.md, "Latent KV"); at
 * the full budget it keeps every pair, so the default conversion is then exact. d_c is at most the rank the stacked rows
 * can have.
 */
export function mlaSizes(model: Model, layer: number, budget: number, ropePairs?: number): { rank: number; ropePairs: number; values: number } {
  if (!(budget > 0 && budget <= 1)) throw new RangeError(`the KV budget must be in (0, 1]; got ${budget}`);
  const c = model.config;
  const l = model.layers[layer];
  const values = Math.round(budget * (l.kv.kHeads + l.kv.vHeads) * c.headDim);
  const half = rotaryPairs(c);
  let r: number;
  if (ropePairs !== undefined) {
    if (!Number.isInteger(ropePairs) || ropePairs < 0 || ropePairs > half) {
      throw new RangeError(`--rope-pairs must be an integer from 0 to ${half} (the rotary pairs of a head); got ${ropePairs}`);
    }
    r = ropePairs;
  } else {
    r = Math.min(half, Math.floor(values / (4 * l.kv.kHeads)));
  }
  const rank = Math.min(values - l.kv.kHeads * 2 * r, stackedRows(model, layer, r), c.dim);
  if (rank < 1) {
    throw new RangeError(
      `at a KV budget of ${budget} layer ${layer} caches ${values} values per token, and ${l.kv.kHeads} K heads × ${2 * r} kept rotary dims leave no room for a latent: ` +
        'keep fewer rotary pairs (--rope-pairs) or give a larger budget',
    );
  }
  return { rank, ropePairs: r, values: rank + l.kv.kHeads * 2 * r };
}

/** E‖W_rows x + b‖² per row, from the uncentred Gram (Σ x xᵀ over n tokens) and column sums. */
function rowEnergies(w: Float32Array, b: Float32Array | undefined, rows: number, D: number, g: LayerGram): Float64Array {
  const out = new Float64Array(rows);
  const wg = new Float64Array(D);
  for (let i = 0; i < rows; i++) {
    const wi = w.subarray(i * D, (i + 1) * D);
    // (w_i C) w_iᵀ and w_i · s
    wg.fill(0);
    const e = dot(mulAdd(wg, wi, g.gram, 1, D, D), wi);
    const ws = dot(wi, g.sum);
    const bi = b ? b[i] : 0;
    out[i] = (e + 2 * bi * ws + g.n * bi * bi) / Math.max(g.n, 1);
  }
  return out;
}

/**
 * Each K head's kept rotary pairs (ascending). 'norm' (MHA2MLA's 2-norm ranking, here from the calibration Gram): pair p of
 * K head k scores the mean, over the query heads reading k, of √E‖q_p‖² · √E‖k_p‖² — the RMS norms' product where
 * MHA2MLA averages the product of norms per token.
 */
export function selectRopePairs(model: Model, layer: number, r: number, select: RopeSelect, gram?: LayerGram): number[][] {
  const half = rotaryPairs(model.config);
  const l = model.layers[layer];
  const kHeads = l.kv.kHeads;
  const fixed = (): number[] => {
    if (select === 'high') return Array.from({ length: r }, (_, i) => i); // pair 0 rotates fastest
    if (select === 'low') return Array.from({ length: r }, (_, i) => half - r + i);
    return Array.from({ length: r }, (_, i) => Math.floor((i * half) / r));
  };
  if (select !== 'norm') return Array.from({ length: kHeads }, () => fixed());
  if (!gram) throw new Error('the 2-norm choice of rotary pairs (--rope-select norm) needs calibration text');
  const c = model.config;
  const { dim: D, headDim: dh } = c;
  const qE = rowEnergies(l.attn.wq, l.attn.bq, c.heads * dh, D, gram);
  const kE = rowEnergies(l.attn.wk, l.attn.bk, kHeads * dh, D, gram);
  const pairEnergy = (e: Float64Array, h: number, p: number) => {
    const [a, b] = pairDims(c, p);
    return e[h * dh + a] + e[h * dh + b];
  };
  return Array.from({ length: kHeads }, (_, k) => {
    const readers = l.kv.kHeadOf.flatMap((kh, h) => (kh === k ? [h] : []));
    const score = Array.from({ length: half }, (_, p) => {
      const kp = Math.sqrt(pairEnergy(kE, k, p));
      return readers.reduce((s, h) => s + Math.sqrt(pairEnergy(qE, h, p)) * kp, 0) / Math.max(readers.length, 1);
    });
    return Array.from({ length: half }, (_, p) => p)
      .sort((a, b) => score[b] - score[a] || a - b)
      .slice(0, r)
      .sort((a, b) => a - b);
  });
}

/** The rows [W_k,nope ; W_v] of a layer, [n, D] in float64: each K head's position-free dims (ascending), then V. */
function stackKv(model: Model, l: LayerWeights, ropePairs: number[][]): { M: Float64Array; kRows: number; n: number } {
  const { dim: D, headDim: dh } = model.config;
  const rows: number[] = [];
  ropePairs.forEach((pairs, h) => headDims(model.config, pairs).nope.forEach((d) => rows.push(h * dh + d)));
  const kRows = rows.length;
  const n = kRows + l.kv.vHeads * dh;
  const M = new Float64Array(n * D);
  rows.forEach((src, i) => {
    for (let a = 0; a < D; a++) M[i * D + a] = l.attn.wk[src * D + a];
  });
  for (let i = 0; i < l.kv.vHeads * dh; i++) for (let a = 0; a < D; a++) M[(kRows + i) * D + a] = l.attn.wv[i * D + a];
  return { M, kRows, n };
}

/** A C Aᵀ for A [n, D] and C [D, D] (the identity when null), [n, n]: (A C) Aᵀ on and above the diagonal, mirrored. */
function sandwich(A: Float64Array, n: number, C: Float64Array | null, D: number): Float64Array {
  const AC = C ? mul(A, C, n, D, D) : A;
  return mulABt(AC, A, n, n, D, { symmetric: true });
}

/** The symmetric square root of a positive semidefinite C [D, D]. */
function sqrtPsd(C: Float64Array, D: number): Float64Array {
  const { values, vectors } = symmetricEigen(C, D);
  const out = new Float64Array(D * D);
  for (let e = 0; e < D; e++) {
    const s = Math.sqrt(Math.max(values[e], 0));
    if (s === 0) continue;
    for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) out[a * D + b] += s * vectors[a * D + e] * vectors[b * D + e];
  }
  return out;
}

/**
 * The eigenvalues of M C Mᵀ (M [n, D]; C = I when null), largest first and padded with zeros to n, and the unit
 * eigenvectors (length n) of the k largest — through the smaller side: M C Mᵀ itself when n ≤ D, else Y = M C^½ and
 * the D × D matrix YᵀY, u = Y v / σ (a direction with σ = 0 is left zero: it carries nothing).
 */
function topDirections(M: Float64Array, n: number, D: number, C: Float64Array | null, k: number): { values: number[]; u: Float64Array[] } {
  if (n <= D) {
    const { values, vectors } = symmetricEigen(sandwich(M, n, C, D), n);
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b] - values[a]);
    return { values: order.map((i) => values[i]), u: order.slice(0, k).map((e) => Float64Array.from({ length: n }, (_, i) => vectors[i * n + e])) };
  }
  const Y = C ? mul(M, sqrtPsd(C, D), n, D, D) : M;
  const { values, vectors } = symmetricEigen(mulAtA(Y, n, D), D);
  const order = Array.from({ length: D }, (_, i) => i).sort((a, b) => values[b] - values[a]);
  const top = Math.max(values[order[0]], 0);
  const u = order.slice(0, k).map((e) => {
    const sigma = Math.sqrt(Math.max(values[e], 0));
    if (sigma <= 1e-12 * Math.sqrt(top)) return new Float64Array(n);
    return mulVec(Y, column(vectors, D, D, e), n, D).map((s) => s / sigma);
  });
  return { values: [...order.map((i) => values[i]), ...new Array<number>(n - D).fill(0)], u };
}

export interface LatentFactor {
  latent: LatentKv;
  /** Share of the stacked rows' energy the latent keeps (weights: Frobenius; activations: on the calibration Gram, balanced). */
  kept: number;
  /** The stacked rows' singular values (weights) or the square roots of the balanced activation spectrum, largest first. */
  spectrum: number[];
}

/**
 * One layer's latent at rank d_c: W_up W_dkv = U_r U_rᵀ [W_k,nope ; W_v], U_r the top eigenvectors of M C Mᵀ (C = I: the
 * truncated SVD of M; C the calibration second moment: the rank-d_c map best on the calibration activations), then
 * balanced so that row i of W_dkv and column i of W_up have equal norms (MHA2MLA's Σ^½ on both sides).
 */
export function latentFactor(model: Model, layer: number, ropePairs: number[][], rank: number, gram?: LayerGram | null): LatentFactor {
  const c = model.config;
  const { dim: D, headDim: dh } = c;
  const l = model.layers[layer];
  const { M, kRows, n } = stackKv(model, l, ropePairs);
  let scale: Float64Array | null = null;
  let C: Float64Array | null = null;
  if (gram) {
    C = gram.gram.map((x) => x / Math.max(gram.n, 1));
    // balance: key rows scaled so that keys and values carry equal energy on the calibration text (TransMLA)
    const energy = (i0: number, i1: number) => {
      let s = 0;
      for (let i = i0; i < i1; i++) for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) s += M[i * D + a] * C![a * D + b] * M[i * D + b];
      return s;
    };
    const eK = kRows ? energy(0, kRows) : 0;
    const eV = energy(kRows, n);
    const alpha = eK > 0 && eV > 0 ? Math.sqrt(eV / eK) : 1;
    scale = new Float64Array(n).fill(1);
    scale.fill(alpha, 0, kRows);
    for (let i = 0; i < kRows; i++) for (let a = 0; a < D; a++) M[i * D + a] *= alpha;
  }
  const { values, u } = topDirections(M, n, D, C, rank);
  const total = values.reduce((s, v) => s + Math.max(v, 0), 0);
  const kept = total > 0 ? values.slice(0, rank).reduce((s, v) => s + Math.max(v, 0), 0) / total : 1;
  // W_dkv rows: u_jᵀ M; W_up columns: u_j; then balanced norms
  const wdkv = new Float32Array(rank * D);
  const up = new Float64Array(n * rank);
  u.forEach((uj, j) => {
    const row = mulAdd(new Float64Array(D), uj, M, 1, n, D);
    const norm = Math.hypot(...row);
    const s = norm > 0 ? Math.sqrt(norm) : 1;
    for (let a = 0; a < D; a++) wdkv[j * D + a] = row[a] / s;
    for (let i = 0; i < n; i++) up[i * rank + j] = (uj[i] * s) / (scale ? scale[i] : 1);
  });
  const wuk = Float32Array.from(up.subarray(0, kRows * rank));
  const wuv = Float32Array.from(up.subarray(kRows * rank));
  const wkr = new Float32Array(l.kv.kHeads * 2 * (ropePairs[0]?.length ?? 0) * D);
  let row = 0;
  ropePairs.forEach((pairs, h) =>
    headDims(c, pairs).rope.forEach((d) => {
      wkr.set(l.attn.wk.subarray((h * dh + d) * D, (h * dh + d + 1) * D), row * D);
      row++;
    }),
  );
  return {
    latent: { rank, ropePairs, wdkv, wuk, wkr, wuv },
    kept,
    spectrum: values.map((v) => Math.sqrt(Math.max(v, 0))),
  };
}

/** The singular values of a layer's stacked [W_k ; W_v] (every key dim, from the weights): how much rank the layer needs. */
export function kvSpectrum(model: Model, layer: number): number[] {
  assertHeadKv(model, 'the K/V spectrum');
  const l = model.layers[layer];
  const none = Array.from({ length: l.kv.kHeads }, () => [] as number[]);
  const { M, n } = stackKv(model, l, none);
  return topDirections(M, n, model.config.dim, null, 0).values.map((v) => Math.sqrt(Math.max(v, 0)));
}

export interface MlaResult {
  model: Model;
  /** Per layer: latent width, kept pairs per K head, share of the stacked K/V energy kept. */
  layers: { rank: number; ropePairs: number; kept: number }[];
}

/** Converts every layer to a latent KV cache. Grams are needed for 'norm' pair selection and activation-aware factors. */
export async function mlaConvert(model: Model, grams: LayerGram[] | null, opts: MlaOptions & LongWorkOptions): Promise<MlaResult> {
  assertHeadKv(model, 'the latent (MLA) conversion');
  const select = opts.ropeSelect ?? MLA_DEFAULTS.ropeSelect;
  const init = opts.latentInit ?? MLA_DEFAULTS.latentInit;
  const layers: MlaResult['layers'] = [];
  const out: LayerWeights[] = [];
  for (const [i, l] of model.layers.entries()) {
    throwIfAborted(opts.signal);
    const sizes = mlaSizes(model, i, opts.budget, opts.ropePairs);
    const rank = sizes.rank;
    const gram = grams?.[i];
    const pairs = selectRopePairs(model, i, sizes.ropePairs, sizes.ropePairs ? select : 'high', gram);
    const f = latentFactor(model, i, pairs, rank, init === 'activations' ? (gram ?? missingGrams()) : null);
    out.push({ ...l, attn: { ...l.attn, wk: new Float32Array(0), wv: new Float32Array(0) }, latent: f.latent });
    layers.push({ rank, ropePairs: sizes.ropePairs, kept: f.kept });
    opts.onProgress?.({
      stage: 'latent factorisation',
      done: i + 1,
      total: model.layers.length,
      detail: `layer ${i}: rank ${rank}, ${sizes.ropePairs} rotary pairs`,
    });
    await Promise.resolve();
  }
  return { model: { ...model, layers: out, source: { ...model.source, format: 'mla' } }, layers };
}

function missingGrams(): never {
  throw new Error('the activation-aware latent (--latent-init activations) needs calibration text');
}
