// One entry for every fusion method, shared by the CLI, the page and the tests: calibrate, convert, optionally train the
// converted model end to end toward the original (the recovery stage: distillation on the calibration text), and report in
// progress events. Evaluation before/after is the caller's, with the ordinary forward pass; the recovery curve measures
// held-out perplexity when evaluation documents are given.
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import { calibrationGrams, calibrationSequences } from '../analysis/calibration';
import { assertHeadKv, kvBytesPerToken } from '../model/heads';
import type { LongWorkOptions, Progress } from '../progress';
import { alignedMerge, meanPool } from './methods';
import { dhaFuse, type DhaOptions, type DhaEvent } from './dha';
import { mlaConvert, type MlaOptions, type MlaResult } from './mla';
import { train, TRAIN_DEFAULTS, type TrainPoint, type TrainEvent, type TrainOptions } from '../train/trainer';

export type FusionMethod = 'meanpool' | 'aligned' | 'dha' | 'mla';
export const FUSION_METHODS: FusionMethod[] = ['meanpool', 'aligned', 'dha', 'mla'];

export interface FuseOptions extends LongWorkOptions {
  method: FusionMethod;
  /** Share of K heads and of V heads kept, in (0, 1]. */
  budget: number;
  /** Calibration token sequences (each from position 0, at most the model's context). */
  calibration: number[][];
  /** DHA: its layer-local training (steps, seed, tokens per step, learning rate, what trains) and allocation rule; the recovery is `train`. */
  dha?: Partial<DhaOptions>;
  /** Latent KV (MLA): which rotary pairs keep RoPE, how the latent is initialised, how many pairs (src/fusion/mla.ts). */
  mla?: Omit<MlaOptions, 'budget'>;
  /** Aligned merge: rescale merged heads to the members' mean energy (ours; DHA's merge always does). Default true. */
  renormalise?: boolean;
  /** DHA: called with every event (the search's budget path, each step's layer-local losses, the KL probe's checks) for live views. */
  onDhaEvent?: (e: DhaEvent) => void;
  /**
   * Recovery: end-to-end training of the converted model toward the original (no steps: none). Its `steps` are the training
   * budget of every method, in steps of batch × seqLen tokens: a conversion's own training tokens (DHA's layer-local steps)
   * come out of it, so that every method trains on the same total (see recoverySteps).
   */
  train?: Partial<TrainOptions>;
  /** Held-out documents for the recovery curve's perplexity. */
  evalDocs?: number[][] | null;
  /** Between steps of every stage: resolves when the run may go on (pause / single step). */
  gate?: () => Promise<void>;
  onTrainEvent?: (e: TrainEvent) => void;
  /** Largest GPU memory the recovery may use. */
  maxTrainBytes?: number;
}

export interface FuseResult {
  model: Model;
  method: FusionMethod;
  budget: number;
  perLayer: { k: number; v: number }[];
  kvBytesPerToken: number;
  calibrationTokens: number;
  /** Gradient steps and tokens of every stage (DHA's own and the recovery). */
  trainSteps: number;
  trainTokens: number;
  /** End-to-end recovery steps run (the budget's steps less those the conversion's own tokens used). */
  recoverySteps: number;
  /** The recovery curve; tokens count from the conversion's own (DHA's stages), so that methods compare at equal cost. */
  curve: TrainPoint[];
  /** DHA: its layer-local loss per step, the calibration KL at each check, and the step whose state was kept. */
  dha: { history: { step: number; loss: number }[]; checks: { step: number; kl: number }[]; bestStep: number } | null;
  /** MLA: per layer the latent width, kept rotary pairs per K head and share of the stacked K/V energy kept. */
  mla: MlaResult['layers'] | null;
  /** Conversion and recovery time, without time spent paused. */
  seconds: number;
}

/**
 * End-to-end steps left to a method whose conversion trained on `conversionTokens` of a budget of `budgetSteps` steps of
 * `tokensPerStep` tokens: equal total training tokens for every method. A conversion that alone exceeds the budget is an
 * error that says what to change.
 */
export function recoverySteps(budgetSteps: number, tokensPerStep: number, conversionTokens: number): number {
  const used = Math.ceil(conversionTokens / tokensPerStep - 1e-9);
  if (used > budgetSteps) {
    throw new RangeError(
      `the conversion's own training (${conversionTokens} tokens, ${used} steps of ${tokensPerStep}) exceeds the training budget of ${budgetSteps} steps ` +
        `(${budgetSteps * tokensPerStep} tokens) that every method shares: give more training steps or fewer DHA steps`,
    );
  }
  return budgetSteps - used;
}

export async function fuse(rt: GpuRuntime, model: Model, opts: FuseOptions): Promise<FuseResult> {
  const t0 = performance.now();
  assertHeadKv(model, `converting with ${opts.method}`);
  const seqs = opts.calibration.flatMap((s) => calibrationSequences(s, model.config.contextLength)).filter((s) => s.length >= 2);
  const calibrationTokens = seqs.reduce((a, s) => a + s.length, 0);
  const progress = (p: Progress) => opts.onProgress?.(p);
  let out: Model;
  let trainSteps = 0;
  let trainTokens = 0;
  let pausedSeconds = 0;
  let dha: FuseResult['dha'] = null;
  let mla: FuseResult['mla'] = null;
  /** Whether the conversion read calibration text (mean-pool never does; MLA only for its 2-norm pairs or activation fit). */
  let calibrated = opts.method !== 'meanpool';
  if (opts.method === 'meanpool') {
    out = meanPool(model, opts.budget);
  } else if (opts.method === 'mla') {
    const o = opts.mla ?? {};
    const needsGrams = (o.ropeSelect ?? 'norm') === 'norm' || (o.latentInit ?? 'activations') === 'activations';
    if (needsGrams && !seqs.length)
      throw new Error('mla needs calibration text for --rope-select norm or --latent-init activations: none of the calibration sequences has two tokens');
    calibrated = needsGrams;
    const grams = needsGrams ? await calibrationGrams(rt, model, seqs, { onProgress: progress, signal: opts.signal }) : null;
    const r = await mlaConvert(model, grams, { ...o, budget: opts.budget, onProgress: progress, signal: opts.signal });
    out = r.model;
    mla = r.layers;
  } else {
    if (!seqs.length) throw new Error(`${opts.method} needs calibration text: none of the calibration sequences has two tokens`);
    if (opts.method === 'aligned') {
      const grams = await calibrationGrams(rt, model, seqs, { onProgress: progress, signal: opts.signal });
      out = (await alignedMerge(model, grams, opts.budget, { rt, renormalise: opts.renormalise ?? true, onProgress: progress, signal: opts.signal })).model;
    } else {
      const r = await dhaFuse(rt, model, seqs, {
        gate: opts.gate,
        ...opts.dha,
        budget: opts.budget,
        onProgress: progress,
        signal: opts.signal,
        onEvent: opts.onDhaEvent,
      });
      out = r.model;
      trainSteps = r.trainSteps;
      trainTokens = r.trainTokens;
      pausedSeconds = r.pausedSeconds;
      dha = { history: r.history, checks: r.checks, bestStep: r.bestStep };
    }
  }
  let curve: TrainPoint[] = [];
  let e2eSteps = 0;
  if (opts.train?.steps) {
    if (!seqs.length) throw new Error('recovery training needs calibration text: none of the calibration sequences has two tokens');
    const conversionTokens = trainTokens;
    const batch = opts.train.batch ?? TRAIN_DEFAULTS.batch;
    const seqLen = Math.min(opts.train.seqLen ?? TRAIN_DEFAULTS.seqLen, model.config.contextLength);
    e2eSteps = recoverySteps(opts.train.steps, batch * seqLen, conversionTokens);
    const shift = <P extends TrainPoint>(p: P): P => ({ ...p, tokens: p.tokens + conversionTokens });
    const r = await train(
      rt,
      out,
      seqs,
      { ...opts.train, steps: e2eSteps },
      {
        teacher: model,
        evalDocs: opts.evalDocs,
        gate: opts.gate,
        signal: opts.signal,
        onProgress: progress,
        maxBytes: opts.maxTrainBytes,
        stepsBefore: opts.train.steps - e2eSteps,
        onEvent: opts.onTrainEvent && ((e) => opts.onTrainEvent!(shift(e))),
      },
    );
    out = r.model;
    curve = r.curve.map(shift);
    trainSteps += r.steps;
    trainTokens += r.tokens;
    pausedSeconds += r.pausedSeconds;
  }
  return {
    model: out,
    method: opts.method,
    budget: opts.budget,
    perLayer: out.layers.map((l) => ({ k: l.kv.kHeads, v: l.kv.vHeads })),
    kvBytesPerToken: kvBytesPerToken(out),
    calibrationTokens: calibrated || opts.train?.steps ? calibrationTokens : 0,
    trainSteps,
    trainTokens,
    recoverySteps: e2eSteps,
    curve,
    dha,
    mla,
    seconds: (performance.now() - t0) / 1000 - pausedSeconds,
  };
}
