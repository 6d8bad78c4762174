// End-to-end training of a whole model on the GPU: distillation from a teacher (KL per token, the default after a
// conversion), next-token cross-entropy, or a mix; AdamW with global-norm clipping, constant or warm-up + cosine learning
// rate, gradient accumulation over micro-batches that the memory plan picks, a choice of what trains. Seeded: the same seed
// draws the same batches, and every kernel is deterministic, so the same seed gives the same weights on the same adapter.
// Long work as progress events; pause/step through `gate`, cancel through `signal`.
import type { Model } from '../model/types';
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { GpuModel } from '../eval/gpuModel';
import { ForwardPass } from '../eval/forward';
import { perplexity } from '../eval/perplexity';
import { trainingLoss } from '../gpu/kernels/layerGrads';
import { reduceRows } from '../gpu/kernels/reduce';
import { adamwStep, clipScale, sumSquares } from '../gpu/kernels/optimizer';
import { GpuOutOfMemoryError } from '../gpu/errors';
import { NO_TARGET } from '../gpu/kernels/transformer';
import { TimedGate, throwIfAborted } from '../progress';
import type { LongWorkOptions } from '../progress';
import { Backward } from './backward';
import { WindowSampler } from './data';
import { allocateTrainables, readTrainedModel, type ModelGrads, type Trainable, type TrainableSet } from './params';
import { describePlan, planTraining, TrainingMemoryError, type TrainingPlan } from './plan';

export type TrainLoss = 'kl' | 'ce' | 'mix';
export const TRAIN_LOSSES: TrainLoss[] = ['kl', 'ce', 'mix'];
export type LrSchedule = 'constant' | 'cosine';

export interface TrainOptions {
  steps: number;
  /** Sequences per step, and positions per sequence. */
  batch: number;
  seqLen: number;
  lr: number;
  schedule: LrSchedule;
  /** Steps of linear warm-up (either schedule). */
  warmupSteps: number;
  /** Cosine: the learning rate falls to this share of lr. */
  minLrFraction: number;
  weightDecay: number;
  /** Largest global gradient norm (0: no clipping). */
  clip: number;
  beta1: number;
  beta2: number;
  params: TrainableSet;
  loss: TrainLoss;
  /** 'mix': the weight of KL; 1 − it goes to cross-entropy. */
  klWeight: number;
  seed: number;
  /** Held-out perplexity every this many steps (and after the last); 0: only before and after. */
  evalEvery: number;
}

export const TRAIN_DEFAULTS: TrainOptions = {
  steps: 100,
  batch: 32,
  seqLen: 128,
  lr: 1e-3,
  schedule: 'constant',
  warmupSteps: 0,
  minLrFraction: 0.1,
  weightDecay: 0,
  clip: 0,
  beta1: 0.9,
  beta2: 0.999,
  params: 'all',
  loss: 'kl',
  klWeight: 0.5,
  seed: 1,
  evalEvery: 0,
};

/** The PyTorch reference protocol's learning rates: 1e-3 when every weight trains, 2e-3 for the attention or K/V only. */
export function defaultLearningRate(set: TrainableSet): number {
  return set === 'all' ? 1e-3 : 2e-3;
}

/** One point of the training curve: the step's mean loss (null before the first step), held-out perplexity where measured. */
export interface TrainPoint {
  step: number;
  tokens: number;
  loss: number | null;
  ppl: number | null;
}

export interface TrainEvent extends TrainPoint {
  steps: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number | null;
}

/**
 * Weights that are functions of other parameters, trained through them (progressive fusion's operators,
 * src/fusion/progressive.ts): the backward fills the derived weights' gradients as usual; the hook turns them into its own
 * parameters' gradients after the backward and rewrites the derived weights after the optimizer.
 */
export interface WeightOperators {
  /** Once the model and its gradients exist, before the backward is built: may replace or remove trainables. */
  attach(gm: GpuModel, params: { trainables: Trainable[]; grads: ModelGrads }): Promise<void>;
  /** After every micro-batch's backward of a step, before clipping and the optimizer. */
  afterBackward(step: number): Promise<void>;
  /** After the optimizer: the operators' own update, then the derived weights recomputed. */
  afterStep(step: number, lr: number, loss: number): Promise<void>;
  release(): void;
}

export interface TrainRun extends LongWorkOptions {
  /** The model the student is distilled from (KL or mix). */
  teacher?: Model | null;
  /** Held-out documents for the curve's perplexity (BOS + tokens). */
  evalDocs?: number[][] | null;
  /** Total bytes the run may use on the GPU. */
  maxBytes?: number;
  /** Called between steps; resolves when the run may go on (pause / single step). */
  gate?: () => Promise<void>;
  onEvent?: (e: TrainEvent) => void;
  /**
   * Steps of the same budget spent before this run (a conversion's own training): held-out perplexity is then measured
   * where (stepsBefore + step) is a multiple of evalEvery, so that every method of a comparison is read at the same totals.
   */
  stepsBefore?: number;
  /** Weights trained through operators (progressive fusion). */
  operators?: WeightOperators;
}

export interface TrainResult {
  model: Model;
  curve: TrainPoint[];
  steps: number;
  tokens: number;
  plan: TrainingPlan;
  /** Seconds of training proper (no evaluation, no pauses), and its throughput. */
  trainSeconds: number;
  tokensPerSecond: number;
  /** Wall time without pauses, and the time spent paused. */
  seconds: number;
  pausedSeconds: number;
}

/** The learning rate at step s (1-based). */
export function learningRate(o: Pick<TrainOptions, 'lr' | 'schedule' | 'warmupSteps' | 'minLrFraction' | 'steps'>, s: number): number {
  if (o.warmupSteps > 0 && s <= o.warmupSteps) return (o.lr * s) / o.warmupSteps;
  if (o.schedule === 'constant') return o.lr;
  const span = Math.max(1, o.steps - o.warmupSteps);
  const progress = Math.min(1, (s - o.warmupSteps) / span);
  const floor = o.lr * o.minLrFraction;
  return floor + 0.5 * (o.lr - floor) * (1 + Math.cos(Math.PI * progress));
}

export async function train(rt: GpuRuntime, student: Model, data: number[][], options: Partial<TrainOptions>, run: TrainRun = {}): Promise<TrainResult> {
  const o: TrainOptions = { ...TRAIN_DEFAULTS, lr: defaultLearningRate(options.params ?? TRAIN_DEFAULTS.params), ...options };
  const t0 = performance.now();
  const klWeight = o.loss === 'kl' ? 1 : o.loss === 'ce' ? 0 : o.klWeight;
  const teacher = klWeight > 0 ? (run.teacher ?? null) : null;
  if (klWeight > 0 && !teacher) throw new Error(`the ${o.loss} loss distils from a teacher: give one, or train with cross-entropy (loss ce)`);
  if (teacher && teacher.config.vocab !== student.config.vocab)
    throw new Error(`the teacher's vocabulary (${teacher.config.vocab}) is not the student's (${student.config.vocab})`);
  const sampler = new WindowSampler(data, Math.min(o.seqLen, student.config.contextLength), o.seed);
  const T = sampler.T;
  const plan = planTraining(student, teacher, o.params, o.batch, T, {
    maxStorageBufferBindingSize: rt.limits.maxStorageBufferBindingSize,
    maxBytes: run.maxBytes,
    flash: Backward.flashFor(rt, student.config),
  });
  const mb = plan.microBatch;
  run.onProgress?.({ stage: 'train', done: 0, total: o.steps, detail: describePlan(plan) });
  const owned: { release(): void }[] = [];
  const scratch: GpuTensor[] = [];
  const gate = new TimedGate(run.gate);
  let trainMs = 0;
  try {
    let gm: GpuModel,
      fp: ForwardPass,
      bw: Backward,
      tfp: ForwardPass | null = null;
    let params: Awaited<ReturnType<typeof allocateTrainables>>;
    try {
      gm = await GpuModel.upload(rt, student);
      owned.push(gm);
      fp = await ForwardPass.create(gm, { batch: mb, chunk: T, cacheT: T, keep: true });
      owned.push(fp);
      params = await allocateTrainables(rt, gm, o.params);
      owned.push(params);
      if (run.operators) {
        await run.operators.attach(gm, params);
        owned.push(run.operators);
      }
      bw = await Backward.create(fp, params.grads);
      owned.push(bw);
      if (teacher) {
        const tgm = await GpuModel.upload(rt, teacher);
        owned.push(tgm);
        tfp = await ForwardPass.create(tgm, { batch: mb, chunk: T, cacheT: T });
        owned.push(tfp);
      }
      for (const [label, n] of [
        ['targets', mb * T],
        ['row loss', mb * T],
        ['micro-batch loss', 1],
        ['step loss', plan.accumulation + 1],
        ['gradient squares', Math.max(1, params.trainables.length)],
        ['clip', 2],
      ] as const) {
        scratch.push(await rt.tensor(`train ${label}`, label === 'targets' ? new Uint32Array(n) : n));
      }
    } catch (e) {
      if (e instanceof GpuOutOfMemoryError) throw new TrainingMemoryError(plan, e.message);
      throw e;
    }
    const [targetsT, rowLoss, microLoss, stepLoss, sq, clip] = scratch;
    const { trainables } = params;
    const curve: TrainPoint[] = [];
    const evaluate = async () => (run.evalDocs?.length ? (await perplexity(gm, run.evalDocs, { signal: run.signal })).ppl : null);
    const emit = (p: TrainPoint, lr: number, gradNorm: number | null) => {
      curve.push(p);
      run.onEvent?.({ ...p, steps: o.steps, lr, gradNorm });
    };
    emit({ step: 0, tokens: 0, loss: null, ppl: await evaluate() }, 0, null);
    let tokens = 0;
    for (let step = 1; step <= o.steps; step++) {
      throwIfAborted(run.signal);
      await gate.pass();
      const s0 = performance.now();
      const lr = learningRate(o, step);
      for (const t of trainables) rt.zero(t.grad);
      const batches = Array.from({ length: plan.accumulation }, () => sampler.next(mb, klWeight === 1));
      const scored = batches.reduce((n, b) => n + b.targets.filter((x) => x !== NO_TARGET).length, 0);
      for (const [i, b] of batches.entries()) {
        if (tfp) await tfp.run(b.ids, T, 0);
        await fp.run(b.ids, T, 0);
        rt.upload(targetsT, b.targets);
        await trainingLoss(rt, fp.logits, tfp?.logits ?? null, targetsT, rowLoss, { rows: mb * T, vocab: student.config.vocab, klWeight, scale: 1 / scored });
        await reduceRows(rt, 'sum', rowLoss, microLoss, 1, mb * T);
        rt.copy(microLoss, stepLoss, 1, 0, 1 + i);
        await bw.run();
      }
      await run.operators?.afterBackward(step);
      for (const [i, t] of trainables.entries()) await sumSquares(rt, t.grad, sq, i);
      await clipScale(rt, sq, clip, trainables.length, o.clip);
      for (const t of trainables) {
        await adamwStep(rt, t.param, t.grad, { m: t.m, v: t.v, t: step }, clip, {
          lr,
          beta1: o.beta1,
          beta2: o.beta2,
          weightDecay: t.decay ? o.weightDecay : 0,
        });
      }
      rt.copy(clip, stepLoss, 1, 1, 0);
      // One read per step: [gradient norm, loss sum of each micro-batch …].
      const read = await rt.read(stepLoss);
      const lossSum = read.subarray(1).reduce((a, x) => a + x, 0);
      await run.operators?.afterStep(step, lr, lossSum / scored);
      tokens += o.batch * T;
      trainMs += performance.now() - s0;
      const last = step === o.steps;
      const ppl = last || (o.evalEvery > 0 && (step + (run.stepsBefore ?? 0)) % o.evalEvery === 0) ? await evaluate() : null;
      emit({ step, tokens, loss: lossSum / scored, ppl }, lr, read[0]);
      run.onProgress?.({
        stage: 'train',
        done: step,
        total: o.steps,
        detail: `loss ${(lossSum / scored).toFixed(4)}${ppl !== null ? `, perplexity ${ppl.toFixed(3)}` : ''}`,
      });
    }
    const model = await readTrainedModel(rt, student, trainables);
    const trainSeconds = trainMs / 1000;
    return {
      model,
      curve,
      steps: o.steps,
      tokens,
      plan,
      trainSeconds,
      tokensPerSecond: trainSeconds > 0 ? tokens / trainSeconds : 0,
      seconds: (performance.now() - t0) / 1000 - gate.pausedSeconds,
      pausedSeconds: gate.pausedSeconds,
    };
  } finally {
    scratch.forEach((t) => rt.release(t));
    owned.reverse().forEach((x) => x.release());
  }
}
