// The recovery-training settings (end-to-end training of the converted model toward the original), shared by the Fuse heads
// panel and the recovery race: steps, learning rate, what trains, the loss, the step's sequences and their length, and how
// often held-out perplexity is measured.
import type { RecoverySettings } from '../../lab/fusionRun';
import type { TrainableSet } from '../../train/params';
import type { TrainLoss } from '../../train/trainer';
import { NumberField } from './common';

/** Defaults: a few small steps on a CPU fallback adapter (SwiftShader), the reference protocol's step on a GPU. */
export function recoveryDefaults(fallback: boolean, steps: number): RecoverySettings {
  return fallback
    ? { steps, lr: 1e-3, params: 'all', loss: 'kl', batch: 8, seqLen: 64, evalEvery: 4 }
    : { steps, lr: 1e-3, params: 'all', loss: 'kl', batch: 32, seqLen: 128, evalEvery: 25 };
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

export function RecoveryFields(props: { value: RecoverySettings; onChange: (v: RecoverySettings) => void; testPrefix: string; stepsLabel?: string }) {
  const { value: r, onChange, testPrefix: p } = props;
  const set = <K extends keyof RecoverySettings>(k: K) => (v: RecoverySettings[K]) => onChange({ ...r, [k]: v });
  return (
    <div className="form-row">
      <NumberField
        label={props.stepsLabel ?? 'training steps'}
        value={r.steps}
        onChange={set('steps')}
        title="Steps of end-to-end training after the conversion: the fused model learns to match the original's next-token distributions on the calibration text (0: none)"
        testId={`${p}-train-steps`}
      />
      <NumberField label="learning rate" value={r.lr} onChange={set('lr')} step={0.0005} min={0.0001} title="Adam's learning rate (the reference protocol: 0.001 for every weight, 0.002 for K/V only)" testId={`${p}-train-lr`} />
      <label title="Which weights train; the rest stay as converted">
        trains{' '}
        <select value={r.params} onChange={(e) => set('params')(e.target.value as TrainableSet)} data-testid={`${p}-train-params`}>
          {(Object.keys(PARAMS) as TrainableSet[]).map((k) => (
            <option key={k} value={k}>
              {PARAMS[k]}
            </option>
          ))}
        </select>
      </label>
      <label title="KL(original ‖ fused) per token distils the original model (the default after a conversion); CE trains on the text's next tokens">
        loss{' '}
        <select value={r.loss} onChange={(e) => set('loss')(e.target.value as TrainLoss)} data-testid={`${p}-train-loss`}>
          {(Object.keys(LOSSES) as TrainLoss[]).map((k) => (
            <option key={k} value={k}>
              {LOSSES[k]}
            </option>
          ))}
        </select>
      </label>
      <NumberField label="sequences per step" value={r.batch} onChange={set('batch')} min={1} title="Calibration windows drawn (with replacement) for each step" testId={`${p}-train-batch`} />
      <NumberField label="sequence length" value={r.seqLen} onChange={set('seqLen')} min={2} title="Tokens per training window (at most the model's context)" testId={`${p}-train-seq`} />
      <NumberField label="evaluate every" value={r.evalEvery} onChange={set('evalEvery')} title="Measure held-out perplexity every this many steps (and after the last); 0: only before and after" testId={`${p}-train-eval-every`} />
    </div>
  );
}
