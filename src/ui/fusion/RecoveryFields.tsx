// The recovery-training settings (end-to-end training of the converted model toward the original), shared by the Fuse heads
// panel and the recovery race: steps, learning rate, what trains, the loss, the step's sequences and their length, and how
// often held-out perplexity is measured. Values live in the page settings (`fuse.train.*`, `race.train.*`).
import type { RecoverySettings } from '../../lab/fusionRun';
import type { Values } from '../../lab/settings';
import type { TrainableSet } from '../../train/params';
import type { TrainLoss } from '../../train/trainer';
import { Field } from '../Field';

/** The recovery settings of a panel, read from the page settings. */
export function recoveryOf(values: Values, panel: 'fuse' | 'race'): RecoverySettings {
  const v = (k: string) => values[`${panel}.train.${k}`];
  return {
    steps: v('steps') as number, lr: v('lr') as number, params: v('params') as TrainableSet, loss: v('loss') as TrainLoss,
    batch: v('batch') as number, seqLen: v('seq') as number, evalEvery: v('evalEvery') as number,
  };
}

/** The first problem with the settings, or null. */
export function recoveryProblem(r: RecoverySettings): string | null {
  for (const [name, v, min] of [['training steps', r.steps, 0], ['sequences per step', r.batch, 1], ['sequence length', r.seqLen, 2], ['evaluate every', r.evalEvery, 0]] as const) {
    if (!Number.isInteger(v) || v < min) return `${name} must be a whole number ≥ ${min}; got ${Number.isFinite(v) ? v : 'nothing'}.`;
  }
  if (!(r.lr > 0 && r.lr < 1)) return `the learning rate must be in (0, 1); got ${Number.isFinite(r.lr) ? r.lr : 'nothing'}.`;
  return null;
}

const PARAMS: Record<TrainableSet, string> = { all: 'every weight', attention: 'attention projections', kv: 'K/V projections' };
const LOSSES: Record<TrainLoss, string> = { kl: 'KL to the original', ce: 'next-token CE', mix: 'half KL, half CE' };

export function RecoveryFields({ panel, testPrefix }: { panel: 'fuse' | 'race'; testPrefix: string }) {
  const k = (name: string) => `${panel}.train.${name}`;
  const p = testPrefix;
  return (
    <div className="form-row">
      <Field
        k={k('steps')}
        testId={`${p}-train-steps`}
        title="Steps of end-to-end training after the conversion: the fused model learns to match the original's next-token distributions on the calibration text (0: none)"
      />
      <Field k={k('lr')} testId={`${p}-train-lr`} step={0.0005} title="Adam's learning rate (the reference protocol: 0.001 for every weight, 0.002 for K/V only)" />
      <Field k={k('params')} testId={`${p}-train-params`} options={PARAMS} title="Which weights train; the rest stay as converted" />
      <Field k={k('loss')} testId={`${p}-train-loss`} options={LOSSES} title="KL(original ‖ fused) per token distils the original model (the default after a conversion); CE trains on the text's next tokens" />
      <Field k={k('batch')} testId={`${p}-train-batch`} title="Calibration windows drawn (with replacement) for each step" />
      <Field k={k('seq')} testId={`${p}-train-seq`} title="Tokens per training window (at most the model's context)" />
      <Field k={k('evalEvery')} testId={`${p}-train-eval-every`} title="Measure held-out perplexity every this many steps (and after the last); 0: only before and after" />
    </div>
  );
}
