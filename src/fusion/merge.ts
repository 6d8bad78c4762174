// The one merge of every head-sharing recipe, and its parts that progressive fusion shares: the aligned frame (each group's
// members aligned, the maps folded — the function unchanged, every head kept), the merge's coefficients, and the collapse of
// each group to one head Σ c_i W_i. Progressive fusion (progressive.ts) collapses with learned coefficients; the merge is
// its collapse at step 0.
import type { Model } from '../model/types';
import { rotaryPlanes, type GroupAlignment } from './align';
import { foldRotations, makeContiguous, mergeHeads, type HeadMap } from './edit';
import { CostCache } from './methods';
import type { LayerGroups, LayerHeadGrams } from './grouping';
import type { HeadChoices } from './recipe';

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
