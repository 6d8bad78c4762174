// The closed-form parts of the three fusion methods, from calibration Grams:
//   GQA mean-pool (Ainslie et al. 2023): contiguous groups of KV heads, the same count in every layer, weights averaged.
//   Aligned merge (Jin et al., Align-heads): equal groups chosen by GPA residual, members aligned (V orthogonal Procrustes
//     folded into W_V/W_O, K per-rotary-plane rotations folded into W_Q/W_K), then averaged. The grouping objective (least
//     total aligned residual of K plus V) and the optional renormalisation are ours (docs/ALGORITHMS.md §3).
//   DHA allocation (our reconstruction, docs/ALGORITHMS.md §4.1): for every layer and K/V separately, the best
//     partition into n groups for every n by merge cost, then an exact DP that shares the global budget across layers.
import type { Model } from '../model/types';
import type { LayerGram } from '../analysis/calibration';
import type { GpuRuntime } from '../gpu/runtime';
import { alignGroup, equalPartitions, HeadGrams, rotaryPlanes, setPartitions, type KvKind } from './align';
import { foldRotations, makeContiguous, mergeHeads, type HeadMap, type LayerMerge } from './edit';
import type { LongWorkOptions } from '../progress';
import { throwIfAborted } from '../progress';

/** Heads kept out of `n` at a budget fraction (at least 1). */
export function headsAtBudget(n: number, budget: number): number {
  if (!(budget > 0 && budget <= 1)) throw new RangeError(`the KV budget must be in (0, 1]; got ${budget}`);
  return Math.max(1, Math.round(n * budget));
}

function uniformCount(model: Model, budget: number): number {
  const counts = new Set(model.layers.flatMap((l) => [l.kv.kHeads, l.kv.vHeads]));
  if (counts.size !== 1) throw new Error('mean-pool and the aligned merge need the same K and V head count in every layer; use DHA');
  const n = [...counts][0];
  const G = headsAtBudget(n, budget);
  if (n % G) {
    const ok = Array.from({ length: n }, (_, i) => i + 1)
      .filter((g) => n % g === 0)
      .map((g) => `${((100 * g) / n).toFixed(1)}%`);
    throw new RangeError(`${n} KV heads cannot be pooled into ${G} equal groups (budget ${budget}); uniform budgets here: ${ok.join(', ')}`);
  }
  return G;
}

const contiguous = (n: number, G: number) => Array.from({ length: G }, (_, g) => Array.from({ length: n / G }, (_, i) => g * (n / G) + i));

/** GQA mean-pool at a budget: every layer's K and V heads pooled into contiguous groups. */
export function meanPool(model: Model, budget: number): Model {
  const G = uniformCount(model, budget);
  return mergeHeads(
    model,
    model.layers.map((l) => ({ kGroups: contiguous(l.kv.kHeads, G), vGroups: contiguous(l.kv.vHeads, G) })),
  );
}

/**
 * Group alignments by member set, computed once. A group of three or more starts from the alignment of the group without
 * its last member (computed first, and cached too), with the newcomer fitted to their mean: GPA then settles in a round or
 * two instead of restarting from one member, and the search needs every subset anyway.
 */
class CostCache {
  private readonly cache = new Map<string, ReturnType<typeof alignGroup>>();
  /** `rounds`: GPA rounds per group (a few suffice to rank partitions; the folded alignment uses more). */
  constructor(
    readonly grams: HeadGrams,
    readonly planes: [number, number][],
    readonly rounds = 50,
  ) {}
  get(group: number[]): ReturnType<typeof alignGroup> {
    const key = group.join(',');
    let a = this.cache.get(key);
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
function agglomerate(n: number, target: number, cost: (groups: number[][]) => number): number[][] {
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

export interface AlignedOptions extends LongWorkOptions {
  /** Scale each merged head so its energy is the members' mean energy (ours; off by default). */
  renormalise?: boolean;
  rt?: GpuRuntime;
}

/** Per-group folding maps and member coefficients for one layer and kind. */
function alignAndCoefficients(cache: CostCache, groups: number[][], n: number, renormalise: boolean) {
  const maps: (HeadMap | null)[] = new Array(n).fill(null);
  const coef: number[][] = [];
  for (const g of groups) {
    const a = cache.get(g);
    g.forEach((h, i) => (maps[h] = a.maps[i]));
    const scale = renormalise && a.meanEnergy > 0 ? Math.sqrt(a.energy / g.length / a.meanEnergy) : 1;
    coef.push(g.map(() => scale / g.length));
  }
  return { maps, coef };
}

/**
 * Aligned merge at a budget: per layer, the equal-size partition of its KV heads with the least aligned residual (K + V),
 * members folded into alignment, then averaged; query heads reordered so that groups are contiguous (a plain GQA model).
 */
export async function alignedMerge(
  model: Model,
  grams: LayerGram[],
  budget: number,
  opts: AlignedOptions = {},
): Promise<{ model: Model; groups: number[][][] }> {
  const G = uniformCount(model, budget);
  const planes = rotaryPlanes(model);
  let out = model;
  const merges: LayerMerge[] = [];
  const chosen: number[][][] = [];
  for (let li = 0; li < model.layers.length; li++) {
    throwIfAborted(opts.signal);
    const l = model.layers[li];
    if (l.kv.kHeadOf.some((k, h) => l.kv.vHeadOf[h] !== k)) throw new Error(`layer ${li}: K and V maps differ; the aligned merge needs GQA-shaped layers`);
    const n = l.kv.kHeads;
    const kc = new CostCache(await HeadGrams.of(model, li, 'k', grams[li], opts.rt), planes);
    const vc = new CostCache(await HeadGrams.of(model, li, 'v', grams[li], opts.rt), []);
    const cost = (p: number[][]) => kc.partitionCost(p) + vc.partitionCost(p);
    const candidates = equalPartitions(n, G);
    let best: number[][];
    if (candidates) best = candidates.reduce((a, b) => (cost(b) < cost(a) ? b : a));
    else best = hillClimb(contiguous(n, G), cost);
    chosen.push(best);
    const k = alignAndCoefficients(kc, best, n, !!opts.renormalise);
    const v = alignAndCoefficients(vc, best, n, !!opts.renormalise);
    out = foldRotations(out, li, k.maps, v.maps);
    merges.push({ kGroups: best, vGroups: best, kCoef: k.coef, vCoef: v.coef });
    opts.onProgress?.({
      stage: 'aligned merge',
      done: li + 1,
      total: model.layers.length,
      detail: `layer ${li}: ${best.map((g) => `{${g.join(',')}}`).join(' ')}`,
    });
  }
  out = mergeHeads(out, merges);
  for (let li = 0; li < out.layers.length; li++) out = makeContiguous(out, li);
  return { model: out, groups: chosen };
}

/** Swaps members between equal groups while the cost falls (for head counts too large to enumerate). */
function hillClimb(start: number[][], cost: (p: number[][]) => number): number[][] {
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

/** One layer's best partition into n groups for every n, by merge cost (K or V). */
export interface LayerOptions {
  /** cost[n − 1]: share of the layer's energy lost with n groups. */
  cost: number[];
  /** partitions[n − 1]: the groups achieving it. */
  partitions: number[][][];
}

export async function layerOptions(
  model: Model,
  layer: number,
  kind: KvKind,
  gram: LayerGram,
  rt?: GpuRuntime,
): Promise<{ options: LayerOptions; cache: CostCache }> {
  const l = model.layers[layer];
  const n = kind === 'k' ? l.kv.kHeads : l.kv.vHeads;
  const cache = new CostCache(await HeadGrams.of(model, layer, kind, gram, rt), kind === 'k' ? rotaryPlanes(model) : [], SEARCH_GPA_ROUNDS);
  const cost: number[] = [];
  const partitions: number[][][] = [];
  for (let g = 1; g <= n; g++) {
    const all = setPartitions(n, g, 50_000);
    let best: number[][];
    let bestCost = Infinity;
    if (all) {
      best = all[0];
      for (const p of all) {
        const c = cache.partitionCost(p);
        if (c < bestCost) [best, bestCost] = [p, c];
      }
    } else {
      best = agglomerate(n, g, (p) => cache.partitionCost(p));
      bestCost = cache.partitionCost(best);
    }
    partitions.push(best);
    cost.push(bestCost);
  }
  return { options: { cost, partitions }, cache };
}

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
  const out: number[] = [];
  let b = total;
  for (let l = 0; l < L; l++) {
    out.push(pick[l][b]);
    b -= pick[l][b];
  }
  return out;
}
