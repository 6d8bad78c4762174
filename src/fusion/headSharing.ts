// The executor of every head-sharing recipe (src/fusion/recipe.ts; mean-pool, the aligned merge and DHA are presets of it):
//  1. Grouping (src/fusion/grouping.ts): counts per layer and which heads go together, under the recipe's constraints.
//  2. The one merge: each group becomes one head at its members' mean — aligned first when the recipe aligns (GPA, folded
//     into W_Q/W_K and W_V/W_O: the function is unchanged), rescaled to the members' mean energy when it renormalises. With
//     shared K/V groups the query heads are then reordered so that groups are contiguous (a plain GQA model).
//  3. Own layer-local steps, when the recipe takes any (src/fusion/ownSteps.ts).
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import type { LayerGram } from '../analysis/calibration';
import type { LongWorkOptions } from '../progress';
import { rotaryPlanes, type GroupAlignment } from './align';
import { foldRotations, makeContiguous, mergeHeads, type HeadMap } from './edit';
import { CostCache } from './methods';
import { groupHeads, headGramsOf, type LayerGroups, type LayerHeadGrams, type SearchEvent } from './grouping';
import { ownSteps, type DhaEvent, type LayerLocalResult } from './ownSteps';
import { needsCost, presetRecipe, type HeadChoices, type HeadRecipe, type TrainSettings } from './recipe';
import { progressiveFusion, type ProgressiveResult } from './progressive';

/** GPA rounds of the alignment folded into the model (the ranking's estimates use SEARCH_GPA_ROUNDS). */
export const MERGE_GPA_ROUNDS = 50;

/** The alignment of each group of one layer, per kind (null where the recipe neither aligns nor renormalises). */
export type LayerAlignments = Record<'k' | 'v', (GroupAlignment | null)[]>;

/**
 * The aligned frame of a recipe's groups: each group's members aligned to each other (recipe.align; GPA warm-started from
 * the group without its last member, as the grouping search ranks them) with the rotations folded into W_Q/W_K and W_V/W_O —
 * the model computes the same function, every head still there. The alignments (with their energies, for renormalising)
 * are computed whenever the recipe aligns or renormalises.
 */
export function alignedFrame(
  model: Model,
  groups: LayerGroups[],
  headGrams: LayerHeadGrams[] | null,
  r: Pick<HeadChoices, 'align' | 'renormalise'>,
): { model: Model; alignments: LayerAlignments[] } {
  const align = r.align === 'on';
  const renormalise = r.renormalise === 'on';
  if ((align || renormalise) && !headGrams) throw new Error('aligning or renormalising merged heads needs calibration Grams');
  const planes = rotaryPlanes(model);
  let out = model;
  const alignments: LayerAlignments[] = [];
  for (let l = 0; l < model.layers.length; l++) {
    const maps: Record<'k' | 'v', (HeadMap | null)[]> = {
      k: new Array(model.layers[l].kv.kHeads).fill(null),
      v: new Array(model.layers[l].kv.vHeads).fill(null),
    };
    const found: LayerAlignments = { k: [], v: [] };
    for (const kind of ['k', 'v'] as const) {
      const cache = headGrams && (align || renormalise) ? new CostCache(headGrams[l][kind], kind === 'k' ? planes : [], MERGE_GPA_ROUNDS, align) : null;
      for (const g of groups[l][kind]) {
        const a = cache?.get(g) ?? null;
        if (a && align) g.forEach((h, i) => (maps[kind][h] = a.maps[i]));
        found[kind].push(a);
      }
    }
    if (align) out = foldRotations(out, l, maps.k, maps.v);
    alignments.push(found);
  }
  return { model: out, alignments };
}

/** Per layer and kind, each group's weight of each member in its one head. */
export type LayerCoefficients = Record<'k' | 'v', number[][]>;

/**
 * Each group of the (aligned) model becomes one head Σ c_i W_i; with shared K/V groups the query heads are then reordered
 * so that groups are contiguous (a plain GQA model), else the model is a DHA model.
 */
export function collapseGroups(aligned: Model, groups: LayerGroups[], coef: LayerCoefficients[], kvGroups: HeadChoices['kvGroups']): Model {
  let out = mergeHeads(
    aligned,
    groups.map((g, l) => ({ kGroups: g.k, vGroups: g.v, kCoef: coef[l].k, vCoef: coef[l].v })),
  );
  if (kvGroups === 'shared') for (let l = 0; l < out.layers.length; l++) out = makeContiguous(out, l);
  else out = { ...out, source: { ...out.source, format: 'dha' } };
  return out;
}

/** The merge's coefficients: each member 1/n, times the renormalisation √(members' mean energy / aligned mean's energy). */
export function mergeCoefficients(groups: LayerGroups[], alignments: LayerAlignments[], renormalise: HeadChoices['renormalise']): LayerCoefficients[] {
  return groups.map((lg, l) => {
    const coef: LayerCoefficients = { k: [], v: [] };
    for (const kind of ['k', 'v'] as const) {
      lg[kind].forEach((g, gi) => {
        const a = alignments[l][kind][gi];
        const scale = a && renormalise === 'on' && a.meanEnergy > 0 ? Math.sqrt(a.energy / g.length / a.meanEnergy) : 1;
        coef[kind].push(g.map(() => scale / g.length));
      });
    }
    return coef;
  });
}

/**
 * Merges each layer's groups at their mean: aligned (recipe.align) and renormalised (recipe.renormalise) from the per-kind
 * Grams, or plainly averaged when neither needs them (`headGrams` null). Progressive fusion collapsed at step 0.
 */
export function mergeGroups(
  model: Model,
  groups: LayerGroups[],
  headGrams: LayerHeadGrams[] | null,
  r: Pick<HeadChoices, 'align' | 'renormalise' | 'kvGroups'>,
): Model {
  const frame = alignedFrame(model, groups, headGrams, r);
  return collapseGroups(frame.model, groups, mergeCoefficients(groups, frame.alignments, r.renormalise), r.kvGroups);
}

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
    return { model: p.model, groups: g.groups, own: null, fusion: { curve, history, disagreement }, trainSteps: p.trainSteps, trainTokens: p.trainTokens, pausedSeconds: p.pausedSeconds };
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
