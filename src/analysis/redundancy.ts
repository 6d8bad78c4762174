// Redundancy of a layer's K heads or V heads, from the calibration Grams alone (no similarity metric involved).
//
//   Y_h = X W_hᵀ + 1 b_hᵀ            head h's outputs over the N calibration tokens, [N, dh]
//   T_ij = ⟨Y_i, Y_j⟩_F = tr(Y_iᵀ Y_j) = tr(W_i C W_jᵀ) + b_j·(W_i s) + b_i·(W_j s) + N b_i·b_j   with C = XᵀX, s = Xᵀ1
//
// Merging heads i and j into one KV head holding their mean M = (Y_i + Y_j)/2 (GQA mean-pooling of that pair, the best
// single replacement for both in least squares) changes the layer's stacked output [Y_1 … Y_H] by
//   ‖Y_i − M‖² + ‖Y_j − M‖² = ‖Y_i − Y_j‖² / 2 = (T_ii + T_jj − 2 T_ij) / 2.
// The layer's merge loss is the smallest of these over all pairs, divided by the layer's head energy Σ_h T_hh:
//   merge loss = min_{i<j} (T_ii + T_jj − 2 T_ij) / (2 Σ_h T_hh)  ∈ [0, 1]
// — the share of the layer's K (or V) output energy lost by the cheapest merge of two heads. 0 means two heads are
// identical (fully redundant); heads that are orthogonal and of equal energy E lose E of the layer's H·E, i.e. 1/H.
// DOM-free; the cross-Grams W C Wᵀ run on the GPU when a runtime is given (stackedCrossGram).
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import type { LayerGram } from './calibration';
import { stackedCrossGram } from './similarity';
import { assertHeadKv } from '../model/heads';
import { mulVec } from '../linalg/hostMatrix';

export interface MergeLoss {
  /** min over pairs of the share of the layer's head energy lost by merging that pair; null with fewer than 2 heads. */
  loss: number | null;
  /** The pair (i < j, original head indices) that loses least; null with fewer than 2 heads. */
  pair: [number, number] | null;
  /** pairLoss[i][j]: share lost by merging heads i and j (0 on the diagonal). */
  pairLoss: number[][];
  /** Each head's share of the layer's head energy, T_hh / Σ T. */
  energy: number[];
}

/** T_ij = ⟨Y_i, Y_j⟩_F for `heads` heads of dimension dh, from the stacked weights [heads·dh, D], biases and a Gram. */
export async function headInnerProducts(
  w: Float32Array,
  b: Float32Array | undefined,
  heads: number,
  dh: number,
  gram: LayerGram,
  D: number,
  rt?: GpuRuntime,
): Promise<number[][]> {
  const rows = heads * dh;
  if (w.length !== rows * D) throw new Error(`weights hold ${w.length} values; ${heads} heads × ${dh} × ${D} need ${rows * D}`);
  const G = await stackedCrossGram(w, gram.gram, D, rt);
  // W s, for the bias terms
  const ws = b ? mulVec(w, gram.sum, rows, D) : new Float64Array(rows);
  const T = Array.from({ length: heads }, () => new Array<number>(heads).fill(0));
  for (let i = 0; i < heads; i++) {
    for (let j = i; j < heads; j++) {
      let t = 0;
      for (let a = 0; a < dh; a++) {
        const ri = i * dh + a;
        const rj = j * dh + a;
        t += G[ri * rows + rj];
        if (b) t += b[rj] * ws[ri] + b[ri] * ws[rj] + gram.n * b[ri] * b[rj];
      }
      T[i][j] = T[j][i] = t;
    }
  }
  return T;
}

/** The merge loss of a layer from its heads' inner products T (see the top of this file). */
export function mergeLoss(T: number[][]): MergeLoss {
  const n = T.length;
  const total = T.reduce((s, row, h) => s + row[h], 0);
  const pairLoss = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  let loss: number | null = null;
  let pair: [number, number] | null = null;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      // (clamped at 0: for identical heads rounding can leave a tiny negative)
      const v = total > 0 ? Math.max(0, T[i][i] + T[j][j] - 2 * T[i][j]) / (2 * total) : 0;
      pairLoss[i][j] = pairLoss[j][i] = v;
      if (loss === null || v < loss) {
        loss = v;
        pair = [i, j];
      }
    }
  }
  return { loss, pair, pairLoss, energy: T.map((row, h) => (total > 0 ? row[h] / total : 0)) };
}

/** The merge loss of one layer's K heads or V heads of a model, from that layer's calibration Gram. */
export async function layerMergeLoss(model: Model, layer: number, proj: 'k' | 'v', gram: LayerGram, rt?: GpuRuntime): Promise<MergeLoss> {
  assertHeadKv(model, 'the redundancy bars');
  const l = model.layers[layer];
  const heads = proj === 'k' ? l.kv.kHeads : l.kv.vHeads;
  const w = proj === 'k' ? l.attn.wk : l.attn.wv;
  const b = proj === 'k' ? l.attn.bk : l.attn.bv;
  return mergeLoss(await headInnerProducts(w, b, heads, model.config.headDim, gram, model.config.dim, rt));
}
