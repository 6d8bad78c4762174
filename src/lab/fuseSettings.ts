// The Fuse heads panel's settings (src/lab/settings.ts) as one run reads them: a run configuration (src/fusion/recipe.ts),
// the method's preset with each recipe row that is not "preset" on top, each value checked first against the table's own
// limits — the ones the page address is read with. DOM-free (tested in Node).
import { CONTROLS, firstProblem, type SettingKey, type Settings } from './settings';
import { HEAD_CHOICES, presetRecipe, type HeadChoice, type HeadRecipe, type Recipe, type RecoverySettings, type RunConfig } from '../fusion/recipe';

/** The KV budget the panel's controls give, as a share in (0, 1]. */
export function fuseBudget(values: Settings): number {
  const choice = values['fuse.budget'];
  return (choice === 'custom' ? values['fuse.pct'] : Number(choice)) / 100;
}

/** The settings row of each recipe choice: the Fuse panel's row whose path is 'recipe.<choice>'; "preset" keeps the method's value. */
export const RECIPE_KEYS = Object.fromEntries(
  HEAD_CHOICES.map((c) => {
    const row = CONTROLS.find((r) => r.panel === 'fuse' && 'path' in r && r.path === `recipe.${c.key}`);
    if (!row) throw new Error(`the recipe choice ${c.key} has no settings row (path recipe.${c.key})`);
    return [c.key, row.key as SettingKey];
  }),
) as Record<HeadChoice, SettingKey>;

/** The settings a Fuse heads run reads (besides the recovery's and the texts'), in the order a problem is reported. */
export function fuseKeys(values: Settings): SettingKey[] {
  return [
    'fuse.calTokens',
    'fuse.evalDocs',
    ...(values['fuse.stepsAuto'] ? [] : (['fuse.steps'] as const)),
    'fuse.seed',
    'fuse.tokensPerStep',
    'fuse.seqLen',
    'fuse.operatorLr',
    ...(values['fuse.ropeAuto'] ? [] : (['fuse.ropePairs'] as const)),
    ...(values['fuse.budget'] === 'custom' ? (['fuse.pct'] as const) : []),
  ];
}

/** The recipe the panel's settings give: the method's preset, the recipe rows that are not "preset", own steps, the latent's. */
export function recipeOf(values: Settings, ctx: { training: boolean; fallback: boolean }): Recipe {
  const base = presetRecipe(values['fuse.method'], ctx);
  if (base.family === 'latent')
    return {
      ...base,
      ropeSelect: values['fuse.ropeSelect'],
      latentInit: values['fuse.latentInit'],
      // rotary pairs automatic: the core's choice; otherwise the count asked for, 0 included (keys without position)
      ...(values['fuse.ropeAuto'] ? {} : { ropePairs: values['fuse.ropePairs'] }),
    };
  const r: HeadRecipe = {
    ...base,
    own: {
      ...base.own,
      tokensPerStep: values['fuse.tokensPerStep'],
      seqLen: values['fuse.seqLen'],
      fusionTrains: values['fuse.fusionTrains'],
      operatorLr: values['fuse.operatorLr'],
    },
  };
  for (const c of HEAD_CHOICES) {
    const v = values[RECIPE_KEYS[c.key]] as string;
    if (v !== 'preset') (r as unknown as Record<string, string>)[c.key] = v;
  }
  if (!values['fuse.stepsAuto']) r.ownSteps = values['fuse.steps'];
  return r;
}

/** A run's configuration from the panel's settings, or the first value the table does not allow ("seed: "1.5" is not a whole number."). */
export function runConfigOf(values: Settings, train: RecoverySettings, fallback: boolean): { config: RunConfig } | { problem: string } {
  const problem = firstProblem(values, fuseKeys(values));
  if (problem) return { problem: `${problem}.` };
  const training = train.steps > 0;
  return {
    config: {
      recipe: recipeOf(values, { training, fallback }),
      budget: fuseBudget(values),
      seed: values['fuse.seed'],
      calibrationTokens: values['fuse.calTokens'],
      train: training ? train : null,
    },
  };
}
