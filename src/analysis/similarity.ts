// Head similarity per layer, for Q, K and V heads, each an H×H matrix in [0, 1], in float64 on the host from the
// calibration Grams (small factorisations: head dims are ≤ 256).
//   weight-cosine: |cos| between the flattened per-head projection weights (a head's sign is not meaningful here).
//   cka:           linear CKA between head outputs Y_i = X W_iᵀ (+ b_i), from centred cross-Grams W_i C_c W_jᵀ.
//   aligned:       how alike two heads are after the best rotation of one onto the other: for V any orthogonal map,
//                  ‖Y_iᵀY_j‖_* / (‖Y_i‖_F ‖Y_j‖_F); for Q and K one 2×2 rotation per rotary plane (so that RoPE is
//                  respected), each plane contributing √((B₀₀+B₁₁)² + (B₁₀−B₀₁)²) of its 2×2 cross-Gram block B, and any
//                  orthogonal map on the dims that do not rotate. (docs/ALGORITHMS.md §2.1; the normalisation is ours.)
import type { Model } from '../model/types';
import { assertHeadKv, headWeights } from '../model/heads';
import type { LayerGram } from './calibration';
import type { GpuRuntime } from '../gpu/runtime';
import { matmul } from '../gpu/kernels/matmul';
import { rotaryPlanes } from '../model/rotary';
import { symmetricEigen } from './eigen';
import { dot, mul, mulABt, mulAtA, mulVec } from '../linalg/hostMatrix';

export type SimilarityMetric = 'weight-cosine' | 'cka' | 'aligned';
export type HeadProjection = 'q' | 'k' | 'v';
export const METRICS: SimilarityMetric[] = ['weight-cosine', 'cka', 'aligned'];

/** Eigenvalues of a symmetric n×n matrix (cyclic Jacobi rotations), float64. */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  return symmetricEigen(a, n).values;
}

/** Sum of singular values of an n×n matrix: Σ √eig(MᵀM). */
export function nuclearNorm(mat: Float64Array, n: number): number {
  return symmetricEigenvalues(mulAtA(mat, n, n), n).reduce((acc, v) => acc + Math.sqrt(Math.max(v, 0)), 0);
}

/**
 * All heads' cross-Grams of one projection at once: W C Wᵀ, [n·dh, n·dh], with W the stacked head weights [n·dh, D] and
 * C a [D, D] Gram (XᵀX, or the centred C − s sᵀ/N). On the GPU when a runtime is given (two matmuls), else on the CPU.
 */
export async function stackedCrossGram(w: Float32Array, C: Float64Array, D: number, rt?: GpuRuntime): Promise<Float64Array> {
  const rows = w.length / D;
  if (rt) {
    const W = await rt.tensor('cross-Gram W', w);
    const G = await rt.tensor('cross-Gram C', Float32Array.from(C));
    const WC = await rt.tensor('cross-Gram WC', rows * D);
    const out = await rt.tensor('cross-Gram WCWᵀ', rows * rows);
    try {
      await matmul(rt, W, G, WC, { M: rows, N: D, K: D });
      await matmul(rt, WC, W, out, { M: rows, N: rows, K: D, transB: true });
      return Float64Array.from(await rt.read(out));
    } finally {
      [W, G, WC, out].forEach((t) => rt.release(t));
    }
  }
  // (W C) Wᵀ, every entry: the two sides of the diagonal are different sums of the same value
  return mulABt(mul(w, C, rows, D, D), w, rows, rows, D);
}

export function centredGram(g: LayerGram, D: number): Float64Array {
  const out = new Float64Array(D * D);
  for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) out[i * D + j] = g.gram[i * D + j] - (g.sum[i] * g.sum[j]) / g.n;
  return out;
}

/** Block (i, j) of a stacked cross-Gram, plus the bias terms of uncentred activations Y = X Wᵀ + 1 bᵀ. */
function block(G: Float64Array, rows: number, dh: number, i: number, j: number, bias?: { b: Float32Array; ws: Float64Array; n: number }): Float64Array {
  const out = new Float64Array(dh * dh);
  for (let a = 0; a < dh; a++)
    for (let c = 0; c < dh; c++) {
      let v = G[(i * dh + a) * rows + j * dh + c];
      if (bias) {
        const bi = bias.b[i * dh + a];
        const bj = bias.b[j * dh + c];
        v += bias.ws[i * dh + a] * bj + bi * bias.ws[j * dh + c] + bias.n * bi * bj;
      }
      out[a * dh + c] = v;
    }
  return out;
}

const frob = (m: Float64Array) => Math.sqrt(m.reduce((s, v) => s + v * v, 0));
const trace = (m: Float64Array, n: number) => Array.from({ length: n }, (_, i) => m[i * n + i]).reduce((a, b) => a + b, 0);

/** max over the allowed rotations Q of tr(Qᵀ G) for a cross-Gram G [dh, dh]. */
function bestRotationScore(G: Float64Array, dh: number, planes: [number, number][]): number {
  if (!planes.length) return nuclearNorm(G, dh);
  let score = 0;
  const inPlane = new Set(planes.flat());
  for (const [a, b] of planes) {
    const b00 = G[a * dh + a];
    const b01 = G[a * dh + b];
    const b10 = G[b * dh + a];
    const b11 = G[b * dh + b];
    score += Math.hypot(b00 + b11, b10 - b01);
  }
  const rest = Array.from({ length: dh }, (_, i) => i).filter((i) => !inPlane.has(i));
  if (rest.length) {
    const sub = new Float64Array(rest.length * rest.length);
    rest.forEach((r, i) => rest.forEach((c, j) => (sub[i * rest.length + j] = G[r * dh + c])));
    score += nuclearNorm(sub, rest.length);
  }
  return score;
}

/** The stacked weights [n·dh, D] and biases of one projection's heads. */
function stacked(model: Model, layer: number, proj: HeadProjection): { w: Float32Array; b?: Float32Array; n: number } {
  const l = model.layers[layer];
  const n = proj === 'q' ? model.config.heads : proj === 'k' ? l.kv.kHeads : l.kv.vHeads;
  const w = proj === 'q' ? l.attn.wq : proj === 'k' ? l.attn.wk : l.attn.wv;
  const b = proj === 'q' ? l.attn.bq : proj === 'k' ? l.attn.bk : l.attn.bv;
  return { w, b, n };
}

/** One layer's similarity matrix for Q, K or V heads. `gram` is needed by cka and aligned; `rt` puts cross-Grams on the GPU. */
export async function headSimilarity(
  model: Model,
  layer: number,
  proj: HeadProjection,
  metric: SimilarityMetric,
  gram?: LayerGram,
  rt?: GpuRuntime,
): Promise<number[][]> {
  assertHeadKv(model, 'head similarity');
  const D = model.config.dim;
  const dh = model.config.headDim;
  const { w, b, n } = stacked(model, layer, proj);
  const out = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  if (metric === 'weight-cosine') {
    const heads = Array.from({ length: n }, (_, h) => headWeights(model, layer, proj, h));
    const norms = heads.map((h) => Math.sqrt(dot(h, h)));
    for (let i = 0; i < n; i++)
      for (let j = i; j < n; j++) {
        out[i][j] = out[j][i] = Math.min(1, Math.abs(dot(heads[i], heads[j])) / (norms[i] * norms[j] || 1));
      }
    return out;
  }
  if (!gram) throw new Error(`the ${metric} metric needs calibration Grams`);
  const rows = n * dh;
  const centred = metric === 'cka';
  const G = await stackedCrossGram(w, centred ? centredGram(gram, D) : gram.gram, D, rt);
  let bias: { b: Float32Array; ws: Float64Array; n: number } | undefined;
  if (!centred && b) {
    bias = { b, ws: mulVec(w, gram.sum, rows, D), n: gram.n };
  }
  const self = Array.from({ length: n }, (_, i) => block(G, rows, dh, i, i, bias));
  const planes = proj === 'v' ? [] : rotaryPlanes(model);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const Gij = i === j ? self[i] : block(G, rows, dh, i, j, bias);
      let v: number;
      if (metric === 'cka') v = frob(Gij) ** 2 / (frob(self[i]) * frob(self[j]) || 1);
      else v = bestRotationScore(Gij, dh, planes) / (Math.sqrt(trace(self[i], dh) * trace(self[j], dh)) || 1);
      out[i][j] = out[j][i] = Math.min(1, Math.max(0, v));
    }
  }
  return out;
}
