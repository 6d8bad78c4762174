// Head alignment from calibration Grams, in float64 on the host (docs/ALGORITHMS.md §1 and §2): no activations are kept.
// For heads i, j of one projection, G_ij = Y_iᵀ Y_j (dh×dh) with Y_h = X W_h + 1 b_h, all from the layer's Gram C = XᵀX and
// column sums (a bias is handled by the augmented input [X, 1]).
//   V heads: any orthogonal map (orthogonal Procrustes, the polar factor of the cross-Gram).
//   K heads: one SO(2) rotation per rotary plane (commutes with RoPE) and any orthogonal map on dims that do not rotate.
// Generalised Procrustes (GPA) aligns a group to its mean; its residual Σ_i ‖Y_i Q_i − M‖² over the group's energy Σ_i ‖Y_i‖²
// is the merge cost: the share of the group's K (or V) energy lost when its members are replaced by their aligned mean.
import type { Model } from '../model/types';
import type { LayerGram } from '../analysis/calibration';
import type { GpuRuntime } from '../gpu/runtime';
import { stackedCrossGram } from '../analysis/similarity';
import { rotaryPlanes } from '../model/rotary';
import { dot, mulAdd, mulAddSparse, sparseRows, type SparseRows } from '../linalg/hostMatrix';
import type { HeadMap } from './edit';
import { procrustes } from './procrustes';

export type KvKind = 'k' | 'v';

/**
 * The allowed map maximising tr(Qᵀ B): V heads any orthogonal map; K heads an SO(2) rotation per rotary plane
 * (θ = atan2(B₁₀ − B₀₁, B₀₀ + B₁₁)) and any orthogonal map on the dims that do not rotate.
 */
export function bestMap(B: Float64Array, dh: number, planes: [number, number][]): Float64Array {
  if (!planes.length) return procrustes(B, dh);
  const Q = new Float64Array(dh * dh);
  const inPlane = new Set(planes.flat());
  for (const [a, b] of planes) {
    const th = Math.atan2(B[b * dh + a] - B[a * dh + b], B[a * dh + a] + B[b * dh + b]);
    const c = Math.cos(th);
    const s = Math.sin(th);
    Q[a * dh + a] = c;
    Q[a * dh + b] = -s;
    Q[b * dh + a] = s;
    Q[b * dh + b] = c;
  }
  const rest = Array.from({ length: dh }, (_, i) => i).filter((i) => !inPlane.has(i));
  if (rest.length) {
    const n = rest.length;
    const sub = new Float64Array(n * n);
    rest.forEach((r, i) => rest.forEach((c, j) => (sub[i * n + j] = B[r * dh + c])));
    const q = procrustes(sub, n);
    rest.forEach((r, i) => rest.forEach((c, j) => (Q[r * dh + c] = q[i * n + j])));
  }
  return Q;
}

/** All cross-Grams of one layer's K (or V) heads, bias included: blocks G_ij = Y_iᵀ Y_j. */
export class HeadGrams {
  readonly n: number;
  readonly dh: number;
  private readonly G: Float64Array;

  constructor(G: Float64Array, n: number, dh: number) {
    this.G = G;
    this.n = n;
    this.dh = dh;
  }

  static async of(model: Model, layer: number, kind: KvKind, gram: LayerGram, rt?: GpuRuntime): Promise<HeadGrams> {
    const { dim: D, headDim: dh } = model.config;
    const l = model.layers[layer];
    const n = kind === 'k' ? l.kv.kHeads : l.kv.vHeads;
    const w = kind === 'k' ? l.attn.wk : l.attn.wv;
    const b = kind === 'k' ? l.attn.bk : l.attn.bv;
    if (!b) return new HeadGrams(await stackedCrossGram(w, gram.gram, D, rt), n, dh);
    // Augmented input [X, 1]: C' = [[C, s], [sᵀ, N]], W' = [W, b].
    const D1 = D + 1;
    const C1 = new Float64Array(D1 * D1);
    for (let i = 0; i < D; i++) {
      for (let j = 0; j < D; j++) C1[i * D1 + j] = gram.gram[i * D + j];
      C1[i * D1 + D] = C1[D * D1 + i] = gram.sum[i];
    }
    C1[D * D1 + D] = gram.n;
    const w1 = new Float32Array(n * dh * D1);
    for (let r = 0; r < n * dh; r++) {
      w1.set(w.subarray(r * D, (r + 1) * D), r * D1);
      w1[r * D1 + D] = b[r];
    }
    return new HeadGrams(await stackedCrossGram(w1, C1, D1, rt), n, dh);
  }

  private readonly blocks = new Map<number, Float64Array>();

  /** G_ij, dh×dh (cached: the search reads every block many times). */
  block(i: number, j: number): Float64Array {
    const { dh } = this;
    const key = i * this.n + j;
    const hit = this.blocks.get(key);
    if (hit) return hit;
    const rows = this.n * dh;
    const out = new Float64Array(dh * dh);
    for (let a = 0; a < dh; a++) for (let c = 0; c < dh; c++) out[a * dh + c] = this.G[(i * dh + a) * rows + j * dh + c];
    this.blocks.set(key, out);
    return out;
  }

  /** ‖Y_i‖²_F = tr G_ii */
  energy(i: number): number {
    const { dh } = this;
    const rows = this.n * dh;
    let s = 0;
    for (let a = 0; a < dh; a++) s += this.G[(i * dh + a) * rows + i * dh + a];
    return s;
  }
}

/**
 * P += A·Q for n×n A and a map Q: dense, or given by its non-zeros per row when sparse (K maps of a fully rotary head are
 * 2×2 rotations per plane: 2n entries, not n²).
 */
function mulAddMap(P: Float64Array, A: Float64Array, Q: MapRows, n: number): void {
  if (Q.dense) mulAdd(P, A, Q.dense, n, n, n);
  else mulAddSparse(P, A, Q.sparse!, n, n, n);
}

/** A map, kept dense when more than half its entries are non-zero. */
type MapRows = { dense: Float64Array; sparse: null } | { dense: null; sparse: SparseRows };

function mapRows(Q: Float64Array, n: number): MapRows {
  let nnz = 0;
  for (let e = 0; e < n * n; e++) if (Q[e] !== 0) nnz++;
  return nnz * 2 > n * n ? { dense: Q, sparse: null } : { dense: null, sparse: sparseRows(Q, n, n) };
}

export interface GroupAlignment {
  /** One map per member (y ↦ y Q_i), in the group's order. */
  maps: HeadMap[];
  /** Σ_i ‖Y_i Q_i − M‖² with M the aligned mean. */
  residual: number;
  /** Σ_i ‖Y_i‖². */
  energy: number;
  /** ‖M‖² (for renormalising the merged head). */
  meanEnergy: number;
}

/**
 * Generalised Procrustes inside one group, from Grams (docs/ALGORITHMS.md §2.4): Q_1 = I and Q_i fitted to Y_1 (or,
 * given `start`, the maps of the group without its last member, which is fitted to their mean: a warm start), then all Q_i
 * refitted to the mean M = (1/s) Σ Y_i Q_i until the residual improves by less than 1e-7 of the group's energy, or
 * `maxRounds` rounds (the search's cost estimates use a few; the alignment that is folded into the model uses up to 50).
 * `planes` empty: orthogonal maps (V); else per-plane rotations (K).
 */
export function alignGroup(grams: HeadGrams, group: number[], planes: [number, number][], maxRounds = 50, start?: HeadMap[]): GroupAlignment {
  const dh = grams.dh;
  const s = group.length;
  const eye = new Float64Array(dh * dh);
  for (let i = 0; i < dh; i++) eye[i * dh + i] = 1;
  const block = (i: number, k: number) => grams.block(group[i], group[k]);
  const energy = group.reduce((acc, i) => acc + grams.energy(i), 0);
  const maps: Float64Array[] = group.map(() => Float64Array.from(eye));
  if (s === 1) return { maps, residual: 0, energy, meanEnergy: energy };
  if (start && start.length === s - 1) {
    start.forEach((q, i) => (maps[i] = q));
    // The newcomer fitted to the others' aligned mean: argmax tr(Qᵀ Y_sᵀ Σ_k Y_k Q_k).
    const B = new Float64Array(dh * dh);
    for (let k = 0; k < s - 1; k++) mulAddMap(B, block(s - 1, k), mapRows(maps[k], dh), dh);
    maps[s - 1] = bestMap(B, dh, planes);
  } else {
    // Q_i fitted onto head 1: argmax tr(Qᵀ Y_iᵀ Y_1) = argmax tr(Qᵀ G_i1).
    for (let i = 1; i < s; i++) maps[i] = bestMap(block(i, 0), dh, planes);
  }
  // P_i = Σ_k G_ik Q_k = s·Y_iᵀM serves both the mean's energy ‖M‖² = (1/s²) Σ_i tr(Q_iᵀ P_i) and the next round's update
  // Q_i = argmax tr(Q_iᵀ P_i): one set of s² products per round.
  const P = group.map(() => new Float64Array(dh * dh));
  const products = () => {
    const rows = maps.map((q) => mapRows(q, dh));
    for (let i = 0; i < s; i++) {
      P[i].fill(0);
      for (let k = 0; k < s; k++) mulAddMap(P[i], block(i, k), rows[k], dh);
    }
  };
  // tr(Q_iᵀ P_i) = Σ_e Q_i[e]·P_i[e]
  const meanEnergy = () => P.reduce((acc, Pi, i) => acc + dot(maps[i], Pi), 0) / (s * s);
  products();
  let mE = meanEnergy();
  let residual = energy - s * mE;
  for (let round = 0; round < maxRounds && s > 2; round++) {
    // Q_i = argmax tr(Q_iᵀ Y_iᵀ M), Y_iᵀ M = P_i / s (the scale does not change the maximiser).
    const next = P.map((Pi) => bestMap(Pi, dh, planes));
    next.forEach((q, i) => (maps[i] = q));
    products();
    const e2 = meanEnergy();
    const r2 = energy - s * e2;
    const improved = residual - r2;
    mE = e2;
    residual = r2;
    if (improved <= 1e-7 * Math.max(energy, 1e-300)) break;
  }
  return { maps, residual: Math.max(residual, 0), energy, meanEnergy: mE };
}

export { rotaryPlanes };

/** All partitions of {0…n−1} into `groups` blocks of equal size (canonical: each block's smallest member first, blocks sorted). */
export function equalPartitions(n: number, groups: number, limit = 200_000): number[][][] | null {
  if (n % groups) return null;
  const size = n / groups;
  const out: number[][][] = [];
  const rec = (left: number[], acc: number[][]): boolean => {
    if (!left.length) {
      out.push(acc.map((g) => [...g]));
      return out.length < limit;
    }
    const [first, ...rest] = left;
    const choose = (start: number, pick: number[]): boolean => {
      if (pick.length === size - 1) {
        const g = [first, ...pick];
        return rec(
          rest.filter((x) => !pick.includes(x)),
          [...acc, g],
        );
      }
      for (let i = start; i < rest.length; i++) if (!choose(i + 1, [...pick, rest[i]])) return false;
      return true;
    };
    return choose(0, []);
  };
  rec(
    Array.from({ length: n }, (_, i) => i),
    [],
  );
  return out.length >= limit ? null : out;
}

/** All set partitions of {0…n−1} into exactly `groups` blocks (restricted growth strings), or null when there are too many. */
export function setPartitions(n: number, groups: number, limit = 200_000): number[][][] | null {
  const out: number[][][] = [];
  const a = new Array<number>(n).fill(0);
  let over = false;
  const rec = (i: number, maxUsed: number) => {
    if (over) return;
    if (n - i < groups - 1 - maxUsed) return;
    if (i === n) {
      if (maxUsed === groups - 1) {
        const g: number[][] = Array.from({ length: groups }, () => []);
        a.forEach((b, h) => g[b].push(h));
        out.push(g);
        if (out.length >= limit) over = true;
      }
      return;
    }
    for (let b = 0; b <= Math.min(maxUsed + 1, groups - 1); b++) {
      a[i] = b;
      rec(i + 1, Math.max(maxUsed, b));
    }
  };
  if (groups >= 1 && groups <= n) {
    a[0] = 0;
    rec(1, 0);
  }
  return over ? null : out;
}
