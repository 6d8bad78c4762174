// The Fuse heads panel's settings (src/lab/settings.ts) as one run reads them (fusionRun's FusionSettings), each value
// checked first against the table's own limits — the ones the page address is read with. DOM-free (tested in Node).
import { firstProblem, type SettingKey, type Settings } from './settings';
import type { FusionSettings, RecoverySettings } from './fusionRun';

/** The KV budget the panel's controls give, as a share in (0, 1]. */
export function fuseBudget(values: Settings): number {
  const choice = values['fuse.budget'];
  return (choice === 'custom' ? values['fuse.pct'] : Number(choice)) / 100;
}

/** The settings a Fuse heads run reads (besides the recovery's and the texts'), in the order a problem is reported. */
export function fuseKeys(values: Settings): SettingKey[] {
  return [
    'fuse.calTokens',
    'fuse.evalDocs',
    'fuse.steps',
    'fuse.seed',
    'fuse.tokensPerStep',
    'fuse.seqLen',
    ...(values['fuse.ropeAuto'] ? [] : (['fuse.ropePairs'] as const)),
    ...(values['fuse.budget'] === 'custom' ? (['fuse.pct'] as const) : []),
  ];
}

/** A run's settings from the panel's, or the first value the table does not allow ("seed: "1.5" is not a whole number."). */
export function fusionSettingsOf(values: Settings, train: RecoverySettings): { settings: FusionSettings } | { problem: string } {
  const problem = firstProblem(values, fuseKeys(values));
  if (problem) return { problem: `${problem}.` };
  return {
    settings: {
      method: values['fuse.method'],
      budget: fuseBudget(values),
      calibrationTokens: values['fuse.calTokens'],
      steps: values['fuse.steps'],
      seed: values['fuse.seed'],
      tokensPerStep: values['fuse.tokensPerStep'],
      seqLen: values['fuse.seqLen'],
      train: train.steps > 0 ? train : null,
      renormalise: values['fuse.renorm'],
      allocation: values['fuse.allocation'],
      kvSplit: values['fuse.kvSplit'],
      // rotary pairs automatic: the core's choice; otherwise the count asked for, 0 included (keys without position)
      mla: {
        ropeSelect: values['fuse.ropeSelect'],
        latentInit: values['fuse.latentInit'],
        ...(values['fuse.ropeAuto'] ? {} : { ropePairs: values['fuse.ropePairs'] }),
      },
    },
  };
}
