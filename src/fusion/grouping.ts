// The one grouping search of every head-sharing recipe (src/fusion/recipe.ts): how many K and V heads each layer keeps and
// which heads go together, under the recipe's constraints —
//   grouping   contiguous index ranges, or any partition, compared by merge cost;
//   groupSizes equal groups only, or any sizes;
//   kvGroups   one partition scored by K cost + V cost (a GQA layout), or K and V apart;
//   allocation the same count in every layer (spread evenly), or counts by an exact DP over per-layer cost curves (DHA);
//   kvSplit    K and V totals each at the budget, or one K+V total.
// The merge cost of a partition is the share of the layer's energy lost when each group collapses to its mean, aligned or not
// (the recipe's align), from calibration Grams. GQA mean-pool (contiguous, equal, uniform) needs no cost and no calibration.
// Ranking uses SEARCH_GPA_ROUNDS rounds of alignment per candidate group; the merge then aligns the chosen groups fully.
import type { KvLayout, Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import type { LayerGram } from '../analysis/calibration';
import { throwIfAborted } from '../progress';
import { equalPartitions, HeadGrams, rotaryPlanes, setPartitions, type KvKind } from './align';
import { agglomerate, allocateBudget, contiguous, CostCache, hillClimb, SEARCH_GPA_ROUNDS } from './methods';
import { mergedLayout } from './edit';
import { budgetTotals, evenCounts, needsCost, recipeProblem, type HeadChoices, type HeadRecipe } from './recipe';

/** One point of the budget path (for the live view: where heads go as the budget tightens). */
export type SearchEvent = {
  phase: 'search';
  /** Heads kept per layer at this point of the budget path. */
  perLayer: { k: number; v: number }[];
  /** Budget fraction this allocation is for. */
  budget: number;
  /** Merge cost per layer and n (K and V; with shared K/V groups both are the shared partition's K + V cost), for charts. */
  costs: { k: number[][]; v: number[][] };
  /** Each layer's head layout at this point (which K head and V head each query head would read). */
  layouts: KvLayout[];
};

/** One layer's best partition into n groups for the counts n searched (index n − 1; Infinity / null where not allowed). */
export interface LayerOptions {
  cost: number[];
  partitions: (number[][] | null)[];
}

export interface LayerGroups {
  k: number[][];
  v: number[][];
}

/**
 * K and V head counts per layer for `totalK` K heads and `totalV` V heads ('equal'), or `totalK + totalV` heads of either
 * kind ('joint'), by least summed merge cost (allocation 'search') or as evenly as whole heads allow ('uniform'; joint: the
 * same K+V count in every layer, split between K and V by cost within the layer).
 */
export function allocate(
  costs: { k: number[][]; v: number[][] },
  totalK: number,
  totalV: number,
  rule: Pick<HeadChoices, 'allocation' | 'kvSplit'>,
): { k: number[]; v: number[] } {
  const L = costs.k.length;
  if (rule.allocation === 'search') {
    if (rule.kvSplit === 'equal') return { k: allocateBudget(costs.k, totalK), v: allocateBudget(costs.v, totalV) };
    const both = allocateBudget([...costs.k, ...costs.v], totalK + totalV);
    return { k: both.slice(0, L), v: both.slice(L) };
  }
  if (rule.kvSplit === 'equal')
    return {
      k: evenCounts(
        costs.k.map((c) => c.length),
        totalK,
      ),
      v: evenCounts(
        costs.v.map((c) => c.length),
        totalV,
      ),
    };
  const even = evenCounts(
    costs.k.map((c, i) => c.length + costs.v[i].length),
    totalK + totalV,
  );
  const k: number[] = [];
  const v: number[] = [];
  for (let i = 0; i < L; i++) {
    const kv = allocateBudget([costs.k[i], costs.v[i]], Math.max(2, even[i]));
    k.push(kv[0]);
    v.push(kv[1]);
  }
  return { k, v };
}

/** The least-cost partition of heads 0…n−1 into contiguous ranges of any sizes, `G` of them (exact DP; cost additive over groups). */
function contiguousFree(n: number, G: number, groupCost: (g: number[]) => number): number[][] {
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  // best[g][j]: least cost of heads 0…j−1 in g ranges; cut[g][j]: where the last range starts.
  const best = Array.from({ length: G + 1 }, () => new Array<number>(n + 1).fill(Infinity));
  const cut = Array.from({ length: G + 1 }, () => new Array<number>(n + 1).fill(0));
  best[0][0] = 0;
  for (let g = 1; g <= G; g++)
    for (let j = g; j <= n; j++)
      for (let i = g - 1; i < j; i++) {
        const c = best[g - 1][i] + groupCost(range(i, j));
        if (c < best[g][j] - 1e-15) [best[g][j], cut[g][j]] = [c, i];
      }
  const out: number[][] = [];
  for (let g = G, j = n; g > 0; j = cut[g][j], g--) out.unshift(range(cut[g][j], j));
  return out;
}

/** The best partition of `n` heads into `G` groups allowed by the recipe's grouping and sizes, and its cost. */
function bestPartition(n: number, G: number, r: HeadChoices, cost: (p: number[][]) => number, groupCost: (g: number[]) => number): [number[][], number] {
  if (r.groupSizes === 'equal' && n % G) return [[], Infinity];
  if (r.grouping === 'contiguous') {
    const p = r.groupSizes === 'equal' ? contiguous(n, G) : contiguousFree(n, G, groupCost);
    return [p, cost(p)];
  }
  if (r.groupSizes === 'equal') {
    const candidates = equalPartitions(n, G);
    const p = candidates ? candidates.reduce((a, b) => (cost(b) < cost(a) ? b : a)) : hillClimb(contiguous(n, G), cost);
    return [p, cost(p)];
  }
  const all = setPartitions(n, G, 50_000);
  if (!all) {
    const p = agglomerate(n, G, cost);
    return [p, cost(p)];
  }
  let best = all[0];
  let bestCost = Infinity;
  for (const p of all) {
    const c = cost(p);
    if (c < bestCost) [best, bestCost] = [p, c];
  }
  return [best, bestCost];
}

/** The per-kind Grams of every layer (for the cost and the merge). */
export interface LayerHeadGrams {
  k: HeadGrams;
  v: HeadGrams;
}

export async function headGramsOf(model: Model, grams: LayerGram[], rt?: GpuRuntime): Promise<LayerHeadGrams[]> {
  const out: LayerHeadGrams[] = [];
  for (let l = 0; l < model.layers.length; l++)
    out.push({ k: await HeadGrams.of(model, l, 'k', grams[l], rt), v: await HeadGrams.of(model, l, 'v', grams[l], rt) });
  return out;
}

export interface GroupingResult {
  groups: LayerGroups[];
  /** Merge cost per layer and count (when the search compared counts), else null. */
  costs: { k: number[][]; v: number[][] } | null;
}

/**
 * Counts and partitions per layer for a recipe at a budget. `headGrams` is null only when the recipe needs no cost (GQA
 * mean-pool's contiguous equal groups). Reports the budget path when the counts were searched.
 */
export function groupHeads(
  model: Model,
  headGrams: LayerHeadGrams[] | null,
  r: HeadRecipe,
  budget: number,
  opts: { onEvent?: (e: SearchEvent) => void; signal?: AbortSignal } = {},
): GroupingResult {
  const problem = recipeProblem(
    r,
    model.layers.map((l) => l.kv),
    budget,
  );
  if (problem) throw new RangeError(problem);
  const L = model.layers.length;
  const nK = model.layers.map((l) => l.kv.kHeads);
  const nV = model.layers.map((l) => l.kv.vHeads);
  const totals = budgetTotals(
    model.layers.map((l) => l.kv),
    budget,
  );
  const shared = r.kvGroups === 'shared';
  if (!needsCost(r)) {
    const k = evenCounts(nK, totals.k);
    const v = evenCounts(nV, totals.v);
    return { groups: k.map((g, l) => ({ k: contiguous(nK[l], g), v: shared ? contiguous(nK[l], g) : contiguous(nV[l], v[l]) })), costs: null };
  }
  if (!headGrams) throw new Error('this recipe compares partitions by merge cost: it needs calibration Grams');
  const planes = rotaryPlanes(model);
  const align = r.align === 'on';
  // With uniform counts and K, V apart the counts are known; equal groups are then searched at those counts only, free
  // groups at every count (cheap, and the live view draws the cost curves).
  const only =
    r.allocation === 'uniform' && r.kvSplit === 'equal' && r.groupSizes === 'equal' ? { k: evenCounts(nK, totals.k), v: evenCounts(nV, totals.v) } : null;
  const options = { k: [] as LayerOptions[], v: [] as LayerOptions[] };
  for (let l = 0; l < L; l++) {
    throwIfAborted(opts.signal);
    const cache = (kind: KvKind) => new CostCache(kind === 'k' ? headGrams[l].k : headGrams[l].v, kind === 'k' ? planes : [], SEARCH_GPA_ROUNDS, align);
    const kc = cache('k');
    const vc = cache('v');
    const search = (n: number, counts: number[] | null, cost: (p: number[][]) => number, groupCost: (g: number[]) => number): LayerOptions => {
      const o: LayerOptions = { cost: new Array<number>(n).fill(Infinity), partitions: new Array(n).fill(null) };
      for (let g = 1; g <= n; g++) {
        if (counts && !counts.includes(g)) continue;
        const [p, c] = bestPartition(n, g, r, cost, groupCost);
        if (c < Infinity) [o.partitions[g - 1], o.cost[g - 1]] = [p, c];
      }
      return o;
    };
    const energy = (c: CostCache) => c.grams.n && Array.from({ length: c.grams.n }, (_, h) => c.grams.energy(h)).reduce((a, b) => a + b, 0);
    const groupCostOf = (c: CostCache, e: number) => (g: number[]) => (e > 0 ? c.get(g).residual / e : 0);
    if (shared) {
      const [eK, eV] = [energy(kc), energy(vc)];
      const o = search(
        nK[l],
        only && [only.k[l]],
        (p) => kc.partitionCost(p) + vc.partitionCost(p),
        (g) => groupCostOf(kc, eK)(g) + groupCostOf(vc, eV)(g),
      );
      options.k.push(o);
      options.v.push(o);
    } else {
      options.k.push(search(nK[l], only && [only.k[l]], (p) => kc.partitionCost(p), groupCostOf(kc, energy(kc))));
      options.v.push(search(nV[l], only && [only.v[l]], (p) => vc.partitionCost(p), groupCostOf(vc, energy(vc))));
    }
  }
  const costs = { k: options.k.map((o) => o.cost), v: options.v.map((o) => o.cost) };
  // Shared groups: V follows K (the same partition, so the same count).
  const rule = { allocation: r.allocation, kvSplit: r.kvSplit };
  const allocateAt = (tk: number, tv: number) => {
    const a = only ?? allocate(costs, tk, tv, rule);
    return shared ? { k: a.k, v: a.k } : a;
  };
  const final = allocateAt(totals.k, totals.v);
  if (!only && opts.onEvent) {
    const totalK = nK.reduce((a, b) => a + b, 0);
    const totalV = nV.reduce((a, b) => a + b, 0);
    const layoutsAt = (a: { k: number[]; v: number[] }) =>
      model.layers.map((l, i) => mergedLayout(l.kv, options.k[i].partitions[a.k[i] - 1]!, options.v[i].partitions[a.v[i] - 1]!));
    const report = (a: { k: number[]; v: number[] }) => {
      const kept = a.k.reduce((x, y) => x + y, 0) + a.v.reduce((x, y) => x + y, 0);
      opts.onEvent!({ phase: 'search', perLayer: a.k.map((n, l) => ({ k: n, v: a.v[l] })), budget: kept / (totalK + totalV), costs, layouts: layoutsAt(a) });
    };
    // The budget path: from every head down to the target, one head at a time for the larger of K and V (points with no
    // allowed allocation — equal group sizes — are skipped).
    const stepsK = totalK - totals.k;
    const stepsV = totalV - totals.v;
    const path = Math.max(stepsK, stepsV, 0);
    for (let s = 1; s <= path; s++) {
      try {
        report(allocateAt(totalK - Math.round((stepsK * s) / path), totalV - Math.round((stepsV * s) / path)));
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
      }
    }
    if (!path) report(final);
  }
  const groups = final.k.map((nk, l) => {
    const k = options.k[l].partitions[nk - 1];
    const v = options.v[l].partitions[final.v[l] - 1];
    if (!k || !v) throw new RangeError(`layer ${l}: no partition of its heads into ${nk} K / ${final.v[l]} V groups is allowed by this recipe`);
    return { k, v };
  });
  return { groups, costs: only ? null : costs };
}
