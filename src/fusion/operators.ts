// Progressive fusion's operators on the host (src/fusion/progressive.ts runs them on the GPU): the n×n mixes per layer and
// kind, a group's disagreement c_g = Σ_{h∈g} ‖ω_h − ω̄_g‖², and the collapse's coefficients (renormalised with the group's
// aligned energy Gram). Float64, GPU-free; docs/ALGORITHMS.md §4.4.
import type { HeadGrams } from './align';
import type { LayerGroups, LayerHeadGrams } from './grouping';
import type { LayerAlignments } from './merge';
import type { HeadRecipe } from './recipe';
import { mul } from '../linalg/hostMatrix';

export type Kind = 'k' | 'v';
export const KINDS: Kind[] = ['k', 'v'];

/** The Lagrangian's penalty weight ρ grows geometrically from RHO_START to RHO_END over the steps (ours). */
export const RHO_START = 0.01;
export const RHO_END = 1e4;
/** Rows agree when every group's mean squared row deviation c_g / n_g is at most this. */
export const AGREEMENT_TOLERANCE = 1e-6;

/** One layer-kind's operators: n×n row-major (zero outside each group's block), with Adam moments and a multiplier per group. */
export interface OperatorBlock {
  n: number;
  groups: number[][];
  omega: Float64Array;
  m: Float64Array;
  v: Float64Array;
  lambda: number[];
}

export function identityOperators(n: number, groups: number[][]): OperatorBlock {
  const omega = new Float64Array(n * n);
  for (let h = 0; h < n; h++) omega[h * n + h] = 1;
  return { n, groups, omega, m: new Float64Array(n * n), v: new Float64Array(n * n), lambda: groups.map(() => 0) };
}

/** A group's mean row ω̄_g over its own columns, and its disagreement c_g = Σ_{h∈g} ‖ω_h − ω̄_g‖². */
export function groupDisagreement(omega: Float64Array, n: number, g: number[]): { mean: Float64Array; c: number } {
  const mean = new Float64Array(g.length);
  for (const h of g) g.forEach((j, i) => (mean[i] += omega[h * n + j] / g.length));
  let c = 0;
  for (const h of g) g.forEach((j, i) => (c += (omega[h * n + j] - mean[i]) ** 2));
  return { mean, c };
}

/** Each group's energy Gram in the aligned frame, Γ_ik = tr(Q_iᵀ Y_iᵀ Y_k Q_k) (identity maps when not aligned). */
export function alignedGram(grams: HeadGrams, g: number[], maps: Float64Array[] | null): Float64Array {
  const dh = grams.dh;
  const s = g.length;
  const out = new Float64Array(s * s);
  for (let i = 0; i < s; i++)
    for (let k = 0; k < s; k++) {
      const B = grams.block(g[i], g[k]);
      if (!maps) {
        for (let d = 0; d < dh; d++) out[i * s + k] += B[d * dh + d];
        continue;
      }
      // tr(Q_iᵀ B Q_k) = Σ_e Q_i[e] · (B Q_k)[e]
      const BQ = mul(B, maps[k], dh, dh, dh);
      let t = 0;
      for (let e = 0; e < dh * dh; e++) t += maps[i][e] * BQ[e];
      out[i * s + k] = t;
    }
  return out;
}

const quad = (G: Float64Array, a: ArrayLike<number>, s: number) => {
  let q = 0;
  for (let i = 0; i < s; i++) for (let k = 0; k < s; k++) q += a[i] * G[i * s + k] * a[k];
  return q;
};

/**
 * The collapse: each group's one head Σ_j c_j W̃_j with c = s_g·ω̄_g, s_g = √(mean_h ω_hᵀΓω_h / ω̄ᵀΓω̄) when renormalising
 * (1 when its rows agree: the collapse then changes nothing), else 1. At ω = I this is the merge's 1/n (times its scale).
 */
export function collapseCoefficients(block: OperatorBlock, gammas: (Float64Array | null)[] | null): number[][] {
  const { n, omega } = block;
  return block.groups.map((g, gi) => {
    const { mean } = groupDisagreement(omega, n, g);
    const G = gammas?.[gi];
    let scale = 1;
    if (G) {
      const rows = g.map((h) => g.map((j) => omega[h * n + j]));
      const members = rows.reduce((a, r) => a + quad(G, r, g.length), 0) / g.length;
      const merged = quad(G, mean, g.length);
      if (merged > 0) scale = Math.sqrt(members / merged);
    }
    return Array.from(mean, (x) => scale * x);
  });
}

/** The aligned energy Grams of every group (for renormalising the collapse), or null when the recipe does not renormalise. */
export function groupGammas(
  groups: LayerGroups[],
  headGrams: LayerHeadGrams[] | null,
  alignments: LayerAlignments[],
  renormalise: HeadRecipe['renormalise'],
): Record<Kind, (Float64Array | null)[]>[] | null {
  if (renormalise !== 'on' || !headGrams) return null;
  return groups.map((lg, l) => {
    const one = (kind: Kind) => lg[kind].map((g, gi) => alignedGram(headGrams[l][kind], g, alignments[l][kind][gi]?.maps ?? null));
    return { k: one('k'), v: one('v') };
  });
}
