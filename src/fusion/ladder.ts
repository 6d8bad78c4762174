// The ladder: from GQA mean-pool to DHA (and its progressive fusion) one change per rung, each rung a recipe (src/fusion/recipe.ts) that differs from the
// one before in exactly one choice, with what changed and why it might help; beside it, the latent KV conversion at the same
// bytes (a second family, not a rung). DOM-free: `headlab ladder`, the tour and the race read the same list.
import { HEAD_CHOICE_KEYS, presetRecipe, type DefaultContext, type HeadChoice, type HeadRecipe, type LatentRecipe } from './recipe';

export interface Rung {
  /** Short name (table rows, legends). */
  name: string;
  /** The one change against the rung before, in words. */
  change: string;
  /** Why it might help. */
  why: string;
  recipe: HeadRecipe;
}

export type RecipeKey = HeadChoice | 'ownSteps' | 'fusionTrains';

/** The choices (or own steps, or what trains beside progressive fusion's operators) in which two head recipes differ. */
export function recipeDifference(a: HeadRecipe, b: HeadRecipe): RecipeKey[] {
  // what trains beside the operators is a choice of progressive fusion only: compared where both recipes fuse progressively
  const differs = (k: RecipeKey) =>
    k === 'fusionTrains' ? a.fusion === 'progressive' && b.fusion === 'progressive' && a.own.fusionTrains !== b.own.fusionTrains : a[k] !== b[k];
  return ([...HEAD_CHOICE_KEYS, 'ownSteps', 'fusionTrains'] as RecipeKey[]).filter(differs);
}

/**
 * The rungs, for a context (the own steps' defaults follow it); `ownSteps`: the last rung's own layer-local steps (out of the
 * same total training tokens as every rung).
 */
export function ladder(ctx: DefaultContext, ownSteps: number): Rung[] {
  const base = (preset: 'meanpool' | 'aligned' | 'dha') => ({ ...(presetRecipe(preset, ctx) as HeadRecipe), ownSteps: 0 });
  const meanpool = base('meanpool');
  const byCost: HeadRecipe = { ...meanpool, grouping: 'cost' };
  const aligned0: HeadRecipe = { ...byCost, align: 'on' };
  const aligned: HeadRecipe = { ...base('aligned') };
  const separate: HeadRecipe = { ...aligned, kvGroups: 'separate' };
  const free: HeadRecipe = { ...separate, groupSizes: 'free' };
  const dha: HeadRecipe = { ...base('dha') };
  const joint: HeadRecipe = { ...dha, kvSplit: 'joint' };
  const own: HeadRecipe = { ...joint, ownSteps };
  const progressive: HeadRecipe = { ...own, fusion: 'progressive', own: { ...own.own, fusionTrains: 'operators' } };
  const everyWeight: HeadRecipe = { ...progressive, own: { ...progressive.own, fusionTrains: 'all' } };
  return [
    { name: 'mean-pool', change: 'GQA mean-pool: contiguous groups of heads averaged', why: 'the baseline: no calibration at all', recipe: meanpool },
    {
      name: 'groups by cost',
      change: 'heads grouped by merge cost instead of by index',
      why: 'heads that are alike lose less when averaged than neighbours that are not',
      recipe: byCost,
    },
    {
      name: 'alignment',
      change: 'members aligned before averaging (rotations within rotary planes for K, orthogonal maps for V)',
      why: 'heads can compute the same thing in rotated bases; averaging unaligned heads cancels what they share',
      recipe: aligned0,
    },
    {
      name: 'renormalisation',
      change: "each merged head rescaled to its members' mean energy (= the aligned merge)",
      why: 'members that still differ partly cancel, so an average is shorter than its members',
      recipe: aligned,
    },
    {
      name: 'separate K/V groups',
      change: 'K heads and V heads partitioned apart',
      why: 'heads whose keys are alike may have unlike values, and the reverse',
      recipe: separate,
    },
    {
      name: 'free group sizes',
      change: 'groups of any size within a layer',
      why: 'a head unlike the others can stay alone while alike heads share',
      recipe: free,
    },
    {
      name: 'per-layer counts',
      change: 'each layer keeps its own number of K and V heads, by least total merge cost (= DHA, none of its own steps)',
      why: 'some layers lose little when merged hard, others much',
      recipe: dha,
    },
    {
      name: 'joint K+V budget',
      change: 'one budget of K+V heads instead of each of K and V at the budget',
      why: 'V heads are less alike than K heads: keeping more V and fewer K heads may lose less at the same bytes',
      recipe: joint,
    },
    {
      name: 'own steps',
      change: `${ownSteps} of DHA's own layer-local steps, out of the same training tokens`,
      why: 'each layer first learns to reproduce its original output, before end-to-end training',
      recipe: own,
    },
    {
      name: 'progressive fusion',
      change: `the same ${ownSteps} steps fuse each group progressively: learned mixes of its heads, trained end to end, pulled together, then collapsed`,
      why: 'the model moves continuously from the original to the fused one instead of jumping to the merge and repairing it (the DHA paper)',
      recipe: progressive,
    },
    {
      name: 'fusion trains every weight',
      change: 'every weight trains beside the fusion operators',
      why: 'the rest of the model can adapt while the heads of each group come together',
      recipe: everyWeight,
    },
  ];
}

/** The latent KV conversion at the same bytes (its default choices): the second family beside the ladder. */
export const latentBeside = (ctx: DefaultContext) => presetRecipe('mla', ctx) as LatentRecipe;

/** min, max and mean of a seed's values. */
export function spread(values: readonly number[]): { values: number[]; mean: number; min: number; max: number } {
  return { values: [...values], mean: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values) };
}

/**
 * The effect of a rung's change: the difference of means, and whether it is measurable — the two seeds' ranges do not
 * overlap (a gap inside the spread of seeds is "no measurable difference"; one seed each: unknown spread, never measurable).
 */
export function effect(before: { values: number[] }, after: { values: number[] }): { delta: number; measurable: boolean } {
  const a = spread(before.values);
  const b = spread(after.values);
  const measurable = a.values.length > 1 && b.values.length > 1 && (b.max < a.min || b.min > a.max);
  return { delta: b.mean - a.mean, measurable };
}
