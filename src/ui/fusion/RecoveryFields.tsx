// The recovery-training settings (end-to-end training of the converted model toward the original), shared by the Fuse heads
// panel and the recovery race: steps, learning rate, what trains, the loss, the step's sequences and their length, and how
// often held-out perplexity is measured. Values live in the page settings (`fuse.train.*`, `race.train.*`).
import type { RecoverySettings } from '../../lab/fusionRun';
import type { SettingKey, Settings } from '../../lab/settings';
import type { TrainableSet } from '../../train/params';
import type { TrainLoss } from '../../train/trainer';
import { Field } from '../Field';

/** The recovery settings of a panel, read from the page settings. */
/** The recovery settings of a panel, as the settings table keys them. */
export const RECOVERY_KEYS = {
  fuse: ['fuse.train.steps', 'fuse.train.lr', 'fuse.train.params', 'fuse.train.loss', 'fuse.train.batch', 'fuse.train.seq', 'fuse.train.evalEvery'],
  race: ['race.train.steps', 'race.train.lr', 'race.train.params', 'race.train.loss', 'race.train.batch', 'race.train.seq', 'race.train.evalEvery'],
} as const satisfies Record<'fuse' | 'race', readonly SettingKey[]>;

export function recoveryOf(values: Settings, panel: 'fuse' | 'race'): RecoverySettings {
  const [steps, lr, params, loss, batch, seqLen, evalEvery] = RECOVERY_KEYS[panel].map((k) => values[k]) as [
    number,
    number,
    TrainableSet,
    TrainLoss,
    number,
    number,
    number,
  ];
  return { steps, lr, params, loss, batch, seqLen, evalEvery };
}

const PARAMS: Record<TrainableSet, string> = { all: 'every weight', attention: 'attention projections', kv: 'K/V projections' };
const LOSSES: Record<TrainLoss, string> = { kl: 'KL to the original', ce: 'next-token CE', mix: 'half KL, half CE' };

export function RecoveryFields({ panel, testPrefix }: { panel: 'fuse' | 'race'; testPrefix: string }) {
  const [steps, lr, params, loss, batch, seq, evalEvery] = RECOVERY_KEYS[panel];
  const p = testPrefix;
  return (
    <div className="form-row">
      <Field
        k={steps}
        testId={`${p}-train-steps`}
        title="Steps of end-to-end training after the conversion: the fused model learns to match the original's next-token distributions on the calibration text (0: none)"
      />
      <Field k={lr} testId={`${p}-train-lr`} step={0.0005} title="Adam's learning rate (the reference protocol: 0.001 for every weight, 0.002 for K/V only)" />
      <Field k={params} testId={`${p}-train-params`} options={PARAMS} title="Which weights train; the rest stay as converted" />
      <Field
        k={loss}
        testId={`${p}-train-loss`}
        options={LOSSES}
        title="KL(original ‖ fused) per token distils the original model (the default after a conversion); CE trains on the text's next tokens"
      />
      <Field k={batch} testId={`${p}-train-batch`} title="Calibration windows drawn (with replacement) for each step" />
      <Field k={seq} testId={`${p}-train-seq`} title="Tokens per training window (at most the model's context)" />
      <Field
        k={evalEvery}
        testId={`${p}-train-eval-every`}
        title="Measure held-out perplexity every this many steps (and after the last); 0: only before and after"
      />
    </div>
  );
}
