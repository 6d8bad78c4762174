// What a layer's K/V spectrum says about a latent (src/fusion/mla.ts kvSpectrum: the singular values σ of the stacked
// [W_k ; W_v]). The best rank-k map of the stack (Eckart–Young) keeps Σ_{i<k} σ_i² of its energy Σ σ_i² (the squared Frobenius
// norm), so the cumulative share against k says how much rank the layer needs. Pure functions for the similarity panel's
// spectrum view; docs/ALGORITHMS.md §6.5.

/** σ² largest first, and their sum. */
function energies(singular: readonly number[]): { e: number[]; total: number } {
  const e = singular.map((s) => s * s).sort((a, b) => b - a);
  return { e, total: e.reduce((a, b) => a + b, 0) };
}

/** kept[k]: the share of the energy in the k largest singular values, k = 0 … n (kept[0] = 0, kept[n] = 1; a zero stack keeps all). */
export function cumulativeEnergy(singular: readonly number[]): number[] {
  const { e, total } = energies(singular);
  const kept = [0];
  let sum = 0;
  for (const x of e) {
    sum += x;
    kept.push(total > 0 ? Math.min(1, sum / total) : 1);
  }
  return kept;
}

/** The singular values above `tol` × the largest: the independent directions the stack has (never more than the model width). */
export function numericalRank(singular: readonly number[], tol = 1e-6): number {
  const top = Math.max(0, ...singular);
  return top > 0 ? singular.filter((s) => s > tol * top).length : 0;
}

/** The least k whose k largest singular values keep at least `share` (0 … 1) of the energy. */
export function widthFor(singular: readonly number[], share: number): number {
  const kept = cumulativeEnergy(singular);
  const k = kept.findIndex((x) => x >= share - 1e-12);
  return k < 0 ? singular.length : k;
}
