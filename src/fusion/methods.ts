// The merge cost of groups of heads and the searches over partitions and layer budgets that the one grouping search
// (src/fusion/grouping.ts) runs for every recipe:
//   the cost of a group: the share of its heads' energy lost when they collapse to their mean — after alignment (GPA over
//     rotations within rotary planes for K, orthogonal maps for V; Jin et al., Align-heads) or as they are;
//   partitions too many to enumerate: equal groups by member swaps, free groups by greedy agglomeration;
//   the budget across layers (DHA, our reconstruction, docs/ALGORITHMS.md §4.1): an exact DP over per-layer cost curves.
import { alignGroup, type GroupAlignment, type HeadGrams } from './align';

export { headsAtBudget } from './recipe';

/** Contiguous equal groups of `n` heads into `G` (GQA's): heads 0…n/G−1, n/G…. */
export const contiguous = (n: number, G: number) => Array.from({ length: G }, (_, g) => Array.from({ length: n / G }, (_, i) => g * (n / G) + i));

/**
 * A group averaged without alignment (identity maps): with G_ik = Y_iᵀ Y_k, the mean M = (1/s) Σ Y_i has
 * ‖M‖² = (1/s²) Σ_ik tr G_ik and the residual Σ ‖Y_i − M‖² = Σ ‖Y_i‖² − s ‖M‖².
 */
export function unalignedGroup(grams: HeadGrams, group: number[]): GroupAlignment {
  const dh = grams.dh;
  const s = group.length;
  const eye = new Float64Array(dh * dh);
  for (let i = 0; i < dh; i++) eye[i * dh + i] = 1;
  const energy = group.reduce((acc, i) => acc + grams.energy(i), 0);
  const maps = group.map(() => Float64Array.from(eye));
  if (s === 1) return { maps, residual: 0, energy, meanEnergy: energy };
  let trace = 0;
  for (const i of group)
    for (const k of group) {
      const b = grams.block(i, k);
      for (let d = 0; d < dh; d++) trace += b[d * dh + d];
    }
  const meanEnergy = trace / (s * s);
  return { maps, residual: Math.max(energy - s * meanEnergy, 0), energy, meanEnergy };
}

/**
 * Group alignments by member set, computed once. A group of three or more starts from the alignment of the group without
 * its last member (computed first, and cached too), with the newcomer fitted to their mean: GPA then settles in a round or
 * two instead of restarting from one member, and the search needs every subset anyway.
 */
export class CostCache {
  private readonly cache = new Map<string, ReturnType<typeof alignGroup>>();
  /** `rounds`: GPA rounds per group (a few suffice to rank partitions; the folded alignment uses more). */
  constructor(
    readonly grams: HeadGrams,
    readonly planes: [number, number][],
    readonly rounds = 50,
    /** false: members are averaged as they are (identity maps): the cost of a merge without alignment. */
    readonly align = true,
  ) {}
  get(group: number[]): ReturnType<typeof alignGroup> {
    const key = group.join(',');
    let a = this.cache.get(key);
    if (!a && !this.align) this.cache.set(key, (a = unalignedGroup(this.grams, group)));
    if (!a) {
      const start = group.length > 2 ? this.get(group.slice(0, -1)).maps : undefined;
      this.cache.set(key, (a = alignGroup(this.grams, group, this.planes, this.rounds, start)));
    }
    return a;
  }
  /** Σ residual / Σ energy over the layer's heads. */
  partitionCost(groups: number[][]): number {
    let r = 0;
    let e = 0;
    for (const g of groups) {
      const a = this.get(g);
      r += a.residual;
      e += a.energy;
    }
    return e > 0 ? r / e : 0;
  }
}

/** Greedy agglomerative partition into `target` groups (when exhaustive enumeration is too large). */
export function agglomerate(n: number, target: number, cost: (groups: number[][]) => number): number[][] {
  let groups = Array.from({ length: n }, (_, i) => [i]);
  while (groups.length > target) {
    let best: number[][] | null = null;
    let bestCost = Infinity;
    for (let a = 0; a < groups.length; a++)
      for (let b = a + 1; b < groups.length; b++) {
        const merged = [...groups[a], ...groups[b]].sort((x, y) => x - y);
        const cand = groups.filter((_, i) => i !== a && i !== b).concat([merged]);
        const c = cost(cand);
        if (c < bestCost) [best, bestCost] = [cand, c];
      }
    groups = best!;
  }
  return groups;
}

/** Swaps members between equal groups while the cost falls (for head counts too large to enumerate). */
export function hillClimb(start: number[][], cost: (p: number[][]) => number): number[][] {
  let best = start.map((g) => [...g]);
  let bestCost = cost(best);
  for (let improved = true; improved;) {
    improved = false;
    for (let a = 0; a < best.length; a++)
      for (let b = a + 1; b < best.length; b++) {
        for (let i = 0; i < best[a].length; i++)
          for (let j = 0; j < best[b].length; j++) {
            const cand = best.map((g) => [...g]);
            [cand[a][i], cand[b][j]] = [cand[b][j], cand[a][i]];
            cand[a].sort((x, y) => x - y);
            cand[b].sort((x, y) => x - y);
            const c = cost(cand);
            if (c < bestCost - 1e-15) [best, bestCost, improved] = [cand, c, true];
          }
      }
  }
  return best;
}

/**
 * GPA rounds per candidate group in DHA's search, each group warm-started from its prefix (CostCache). On tinystories-mha
 * (calibration of docs/RESULTS.md) every layer's cost curve with 2 rounds is within 0.003 of its value after 50, and the
 * allocations at 25 % and 50 % are those of 50 rounds, at a twelfth of the time (1.2 s against 25 s on SwiftShader's host).
 */
export const SEARCH_GPA_ROUNDS = 2;

/**
 * Shares `total` heads across layers (each layer 1 … its head count) minimising Σ_l cost_l(n_l), exactly (DP over layers).
 * Ties prefer keeping heads in earlier layers. Returns the count per layer.
 */
export function allocateBudget(costs: number[][], total: number): number[] {
  const L = costs.length;
  const maxTotal = costs.reduce((s, c) => s + c.length, 0);
  if (total < L || total > maxTotal)
    throw new RangeError(`a budget of ${total} heads cannot be shared by ${L} layers (each keeps 1 … its heads; at most ${maxTotal})`);
  // best[l][b]: least cost of layers l… with b heads.
  const best: number[][] = Array.from({ length: L + 1 }, () => new Array<number>(total + 1).fill(Infinity));
  const pick: number[][] = Array.from({ length: L }, () => new Array<number>(total + 1).fill(0));
  best[L][0] = 0;
  for (let l = L - 1; l >= 0; l--) {
    for (let b = 0; b <= total; b++) {
      for (let n = costs[l].length; n >= 1; n--) {
        if (n > b || best[l + 1][b - n] === Infinity) continue;
        const v = costs[l][n - 1] + best[l + 1][b - n];
        if (v < best[l][b] - 1e-15) [best[l][b], pick[l][b]] = [v, n];
      }
    }
  }
  if (best[0][total] === Infinity)
    throw new RangeError(`no allocation of ${total} heads: some layers allow only some counts (equal group sizes need counts that divide the heads)`);
  const out: number[] = [];
  let b = total;
  for (let l = 0; l < L; l++) {
    out.push(pick[l][b]);
    b -= pick[l][b];
  }
  return out;
}
