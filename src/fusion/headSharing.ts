// The executor of every head-sharing recipe (src/fusion/recipe.ts; mean-pool, the aligned merge and DHA are presets of it):
//  1. Grouping (src/fusion/grouping.ts): counts per layer and which heads go together, under the recipe's constraints.
//  2. The one merge: each group becomes one head at its members' mean — aligned first when the recipe aligns (GPA, folded
//     into W_Q/W_K and W_V/W_O: the function is unchanged), rescaled to the members' mean energy when it renormalises. With
//     shared K/V groups the query heads are then reordered so that groups are contiguous (a plain GQA model).
//  3. Own layer-local steps, when the recipe takes any (src/fusion/ownSteps.ts) — or, with `fusion: 'progressive'`, instead
//     of 2 and 3: fusion steps that learn each group's mix end to end, then the collapse (src/fusion/progressive.ts).
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import type { LayerGram } from '../analysis/calibration';
import type { LongWorkOptions } from '../progress';
import { mergeGroups } from './merge';

import { groupHeads, headGramsOf, type LayerGroups, type SearchEvent } from './grouping';
import { ownSteps, type DhaEvent, type LayerLocalResult } from './ownSteps';
import { needsCost, presetRecipe, type HeadRecipe, type TrainSettings } from './recipe';
import { progressiveFusion, type ProgressiveResult } from './progressive';

export interface HeadSharingResult {
  model: Model;
  groups: LayerGroups[];
  /** The own steps' record (null: none taken, or taken as progressive fusion). */
  own: Omit<LayerLocalResult, 'model' | 'pausedSeconds'> | null;
  /** Progressive fusion's record: its held-out curve from the original, the Lagrangian per step, the rows' disagreement at the collapse. */
  fusion: Pick<ProgressiveResult, 'curve' | 'history' | 'disagreement'> | null;
  trainSteps: number;
  trainTokens: number;
  pausedSeconds: number;
}

/** Whether a recipe's grouping or merge reads calibration Grams. */
export const needsGrams = (r: HeadRecipe) => needsCost(r) || r.align === 'on' || r.renormalise === 'on';

/**
 * Runs a head-sharing recipe at a budget: grouping, merge, own steps. `grams`: the calibration Grams when the recipe needs
 * them (needsGrams); `sequences`: the calibration sequences its own steps train on, with `seed`.
 */
export async function convertHeads(
  rt: GpuRuntime,
  model: Model,
  r: HeadRecipe,
  budget: number,
  data: { grams: LayerGram[] | null; sequences: number[][]; seed: number; evalDocs?: number[][] | null; train?: TrainSettings | null },
  opts: LongWorkOptions & {
    gate?: () => Promise<void>;
    onEvent?: (e: DhaEvent) => void;
    maxTrainBytes?: number;
  } = {},
): Promise<HeadSharingResult> {
  const headGrams = needsGrams(r) ? await headGramsOf(model, data.grams ?? missing(), rt) : null;
  opts.onProgress?.({ stage: 'grouping', done: 0, total: 1 });
  const g = groupHeads(model, headGrams, r, budget, { onEvent: opts.onEvent as ((e: SearchEvent) => void) | undefined, signal: opts.signal });
  const perLayer = g.groups.map((x) => `${x.k.length}/${x.v.length}`).join(' ');
  opts.onProgress?.({ stage: 'grouping', done: 1, total: 1, detail: `K/V heads per layer ${perLayer}` });
  if (r.fusion === 'progressive' && r.ownSteps > 0) {
    const p = await progressiveFusion(rt, model, g.groups, headGrams, r, data, {
      gate: opts.gate,
      signal: opts.signal,
      onProgress: opts.onProgress,
      maxBytes: opts.maxTrainBytes,
      onEvent: opts.onEvent,
    });
    const { curve, history, disagreement } = p;
    return {
      model: p.model,
      groups: g.groups,
      own: null,
      fusion: { curve, history, disagreement },
      trainSteps: p.trainSteps,
      trainTokens: p.trainTokens,
      pausedSeconds: p.pausedSeconds,
    };
  }
  const merged = mergeGroups(model, g.groups, headGrams, r);
  const base: HeadSharingResult = { model: merged, groups: g.groups, own: null, fusion: null, trainSteps: 0, trainTokens: 0, pausedSeconds: 0 };
  if (r.ownSteps <= 0) return base;
  const o = await ownSteps(
    rt,
    model,
    merged,
    data.sequences,
    { ...r.own, steps: r.ownSteps, seed: data.seed, gate: opts.gate, onEvent: opts.onEvent },
    opts.signal,
    opts.onProgress,
  );
  const { model: kept, pausedSeconds, ...own } = o;
  return { ...base, model: kept, own, trainSteps: r.ownSteps, trainTokens: o.trainTokens, pausedSeconds };
}

function missing(): never {
  throw new Error('this recipe reads calibration Grams: none were given');
}

/** GQA mean-pool at a budget (the preset that reads no calibration): contiguous equal groups, plainly averaged. */
export function meanPool(model: Model, budget: number): Model {
  const r = presetRecipe('meanpool', { training: false, fallback: false }) as HeadRecipe;
  return mergeGroups(model, groupHeads(model, null, r, budget).groups, null, r);
}
