// DHA's stage 1 (docs/ALGORITHMS.md §4.1, our reconstruction): for every layer, separately for K and V, the best partition of
// its heads into n groups for every n (by merge cost on the calibration Grams), then the allocation of the global budget
// across layers — K and V apart or one joint K+V budget, searched or uniform — reported along the budget path from every head
// down to the target, so that the live view shows where heads go as the budget tightens.
import type { KvLayout, Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import type { LayerGram } from '../analysis/calibration';
import { throwIfAborted } from '../progress';
import { allocateBudget, headsAtBudget, layerOptions, type LayerOptions } from './methods';
import { mergedLayout } from './edit';
import { DHA_DEFAULTS, type DhaAllocation, type DhaKvSplit } from './dhaDefaults';

/** One point of the budget path. */
export type SearchEvent = {
  phase: 'search';
  /** Heads kept per layer at this point of the budget path. */
  perLayer: { k: number; v: number }[];
  /** Budget fraction this allocation is for. */
  budget: number;
  /** Merge cost per layer and n (K and V), for charts. */
  costs: { k: number[][]; v: number[][] };
  /** Each layer's head layout at this point (which K head and V head each query head would read). */
  layouts: KvLayout[];
};

/** How a budget is shared out: DHA's search or uniform counts, K and V apart or jointly. */
export interface AllocationRule {
  allocation: DhaAllocation;
  kvSplit: DhaKvSplit;
}

/**
 * K and V head counts per layer for `totalK` K heads and `totalV` V heads ('equal'), or `totalK + totalV` heads of either
 * kind ('joint'), by least summed merge cost (allocation 'search') or the same count in every layer ('uniform'; joint: the
 * same K+V count in every layer, split between K and V by cost within the layer).
 */
export function allocate(costs: { k: number[][]; v: number[][] }, totalK: number, totalV: number, rule: AllocationRule): { k: number[]; v: number[] } {
  const L = costs.k.length;
  if (rule.allocation === 'search') {
    if (rule.kvSplit === 'equal') return { k: allocateBudget(costs.k, totalK), v: allocateBudget(costs.v, totalV) };
    const both = allocateBudget([...costs.k, ...costs.v], totalK + totalV);
    return { k: both.slice(0, L), v: both.slice(L) };
  }
  // uniform: spread a total over the layers as evenly as whole heads allow (earlier layers keep the remainder).
  const even = (total: number, i: number) => Math.floor(total / L) + (i < total % L ? 1 : 0);
  if (rule.kvSplit === 'equal')
    return { k: costs.k.map((c, i) => Math.min(c.length, even(totalK, i))), v: costs.v.map((c, i) => Math.min(c.length, even(totalV, i))) };
  const k: number[] = [];
  const v: number[] = [];
  for (let i = 0; i < L; i++) {
    const kv = allocateBudget([costs.k[i], costs.v[i]], Math.max(2, Math.min(costs.k[i].length + costs.v[i].length, even(totalK + totalV, i))));
    k.push(kv[0]);
    v.push(kv[1]);
  }
  return { k, v };
}

/** Stage 1: per-layer options and the allocation at the budget (and along the way, reported). */
export async function dhaSearch(
  rt: GpuRuntime,
  model: Model,
  grams: LayerGram[],
  budget: number,
  onEvent?: (e: SearchEvent) => void,
  signal?: AbortSignal,
  rule: AllocationRule = { allocation: DHA_DEFAULTS.allocation, kvSplit: DHA_DEFAULTS.kvSplit },
): Promise<{ k: number[]; v: number[]; options: { k: LayerOptions[]; v: LayerOptions[] } }> {
  const options = { k: [] as LayerOptions[], v: [] as LayerOptions[] };
  for (let l = 0; l < model.layers.length; l++) {
    throwIfAborted(signal);
    options.k.push((await layerOptions(model, l, 'k', grams[l], rt)).options);
    options.v.push((await layerOptions(model, l, 'v', grams[l], rt)).options);
  }
  const L = model.layers.length;
  const totalK = model.layers.reduce((s, l) => s + l.kv.kHeads, 0);
  const totalV = model.layers.reduce((s, l) => s + l.kv.vHeads, 0);
  const wantK = Math.max(L, headsAtBudget(totalK, budget));
  const wantV = Math.max(L, headsAtBudget(totalV, budget));
  const costs = { k: options.k.map((o) => o.cost), v: options.v.map((o) => o.cost) };
  const layoutsAt = (k: number[], v: number[]) =>
    model.layers.map((l, i) => mergedLayout(l.kv, options.k[i].partitions[k[i] - 1], options.v[i].partitions[v[i] - 1]));
  const report = (a: { k: number[]; v: number[] }) => {
    const kept = a.k.reduce((x, y) => x + y, 0) + a.v.reduce((x, y) => x + y, 0);
    onEvent?.({ phase: 'search', perLayer: a.k.map((n, l) => ({ k: n, v: a.v[l] })), budget: kept / (totalK + totalV), costs, layouts: layoutsAt(a.k, a.v) });
  };
  // The budget path: from every head down to the target, one head at a time for the larger of K and V.
  const stepsK = totalK - wantK;
  const stepsV = totalV - wantV;
  const path = Math.max(stepsK, stepsV, 0);
  for (let s = 1; s <= path; s++) report(allocate(costs, totalK - Math.round((stepsK * s) / path), totalV - Math.round((stepsV * s) / path), rule));
  const final = allocate(costs, wantK, wantV, rule);
  if (!path) report(final);
  return { ...final, options };
}

/** Stage 2 input: each layer's K and V groups at the allocation the search found. */
export function searchedGroups(search: Awaited<ReturnType<typeof dhaSearch>>): { k: number[][]; v: number[][] }[] {
  return search.k.map((nk, l) => ({ k: search.options.k[l].partitions[nk - 1], v: search.options.v[l].partitions[search.v[l] - 1] }));
}
