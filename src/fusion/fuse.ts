// One entry for every fusion method, shared by the CLI, the page and the tests: calibrate, convert, optionally train the
// converted model end to end toward the original (the recovery stage: distillation on the calibration text), and report in
// progress events. Evaluation before/after is the caller's, with the ordinary forward pass; the recovery curve measures
// held-out perplexity when evaluation documents are given.
// One entry for every conversion, shared by the CLI, the page and the tests: calibrate, convert by the run's recipe (a
// head-sharing recipe through src/fusion/headSharing.ts, or the latent), optionally train the converted model end to end
// toward the original (the recovery stage: distillation on the calibration text), and report in progress events.
// Evaluation before/after is the caller's, with the ordinary forward pass; the recovery curve measures held-out perplexity
// when evaluation documents are given.
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import { calibrationGrams, calibrationSequences } from '../analysis/calibration';
import { assertHeadKv, kvBytesPerToken } from '../model/heads';
import type { LongWorkOptions, Progress } from '../progress';
import { convertHeads, needsGrams, type HeadSharingResult } from './headSharing';
import type { DhaEvent } from './ownSteps';
import { mlaConvert, type MlaResult } from './mla';
import { readsCalibration, recipeLabel, type Recipe, type RunConfig } from './recipe';
import { GpuModel } from '../eval/gpuModel';
import { perplexity } from '../eval/perplexity';
import { train, TRAIN_DEFAULTS, type TrainPoint, type TrainEvent } from '../train/trainer';

export { FUSION_METHODS, type FusionMethod } from './recipe';

/** What a run reads: calibration token sequences (each from position 0, at most the model's context) and held-out documents. */
export interface FuseData {
  calibration: number[][];
  /** Held-out documents for the recovery curve's perplexity. */
  evalDocs?: number[][] | null;
}

export interface FuseHooks extends LongWorkOptions {
  /** Between steps of every stage: resolves when the run may go on (pause / single step). */
  gate?: () => Promise<void>;
  /** The grouping search's budget path, each own step's layer-local losses, the KL probe's checks: for live views. */
  onDhaEvent?: (e: DhaEvent) => void;
  onTrainEvent?: (e: TrainEvent) => void;
  /** Largest GPU memory the recovery may use. */
  maxTrainBytes?: number;
}

export interface FuseResult {
  model: Model;
  /** The recipe that ran, in full, and its label. */
  recipe: Recipe;
  label: string;
  budget: number;
  perLayer: { k: number; v: number }[];
  kvBytesPerToken: number;
  calibrationTokens: number;
  /** Gradient steps and tokens of every stage (the conversion's own and the recovery). */
  trainSteps: number;
  trainTokens: number;
  /** The conversion's own layer-local steps that ran. */
  ownSteps: number;
  /** End-to-end recovery steps run (the budget's steps less those the conversion's own tokens used). */
  recoverySteps: number;
  /** The recovery curve; tokens count from the conversion's own, so that methods compare at equal cost. */
  curve: TrainPoint[];
  /** Own steps: the layer-local loss per step, the calibration KL at each check, and the step whose state was kept. */
  own: { history: { step: number; loss: number }[]; checks: { step: number; kl: number }[]; bestStep: number } | null;
  /** Progressive fusion: the held-out curve of its steps, the Lagrangian per step, the rows' disagreement at the collapse. */
  fusion: HeadSharingResult['fusion'];
  /** MLA: per layer the latent width, kept rotary pairs per K head and share of the stacked K/V energy kept. */
  mla: MlaResult['layers'] | null;
  /** Conversion and recovery time, without time spent paused. */
  seconds: number;
}

/**
 * The converted model's held-out perplexity in a result's curve: its first point — after progressive fusion's own curve,
 * which starts at the original — or null when the curve measured none.
 */
export const convertedPpl = (r: Pick<FuseResult, 'curve' | 'fusion'>): number | null => r.curve[r.fusion?.curve.length ?? 0]?.ppl ?? null;

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
        `(${budgetSteps * tokensPerStep} tokens) that every method shares: give more training steps or fewer own steps (--steps)`,
    );
  }
  return budgetSteps - used;
}

export async function fuse(rt: GpuRuntime, model: Model, config: RunConfig, data: FuseData, hooks: FuseHooks = {}): Promise<FuseResult> {
  const t0 = performance.now();
  const { recipe, budget } = config;
  assertHeadKv(model, `converting with ${recipe.preset}`);
  const seqs = data.calibration.flatMap((s) => calibrationSequences(s, model.config.contextLength)).filter((s) => s.length >= 2);
  const calibrationTokens = seqs.reduce((a, s) => a + s.length, 0);
  const progress = (p: Progress) => hooks.onProgress?.(p);
  const calibrated = readsCalibration(recipe);
  if (calibrated && !seqs.length) throw new Error(`${recipeLabel(recipe)} reads calibration text, but none of the calibration sequences has two tokens`);
  let out: Model;
  let trainSteps = 0;
  let trainTokens = 0;
  let pausedSeconds = 0;
  let own: FuseResult['own'] = null;
  let mla: FuseResult['mla'] = null;
  let fusion: FuseResult['fusion'] = null;
  if (recipe.family === 'latent') {
    const grams = calibrated ? await calibrationGrams(rt, model, seqs, { onProgress: progress, signal: hooks.signal }) : null;
    const { ropeSelect, latentInit, ropePairs } = recipe;
    const r = await mlaConvert(model, grams, { ropeSelect, latentInit, ropePairs, budget, onProgress: progress, signal: hooks.signal });
    out = r.model;
    mla = r.layers;
  } else {
    const grams = needsGrams(recipe) ? await calibrationGrams(rt, model, seqs, { onProgress: progress, signal: hooks.signal }) : null;
    const r = await convertHeads(
      rt,
      model,
      recipe,
      budget,
      { grams, sequences: seqs, seed: config.seed, evalDocs: data.evalDocs, train: config.train },
      {
        gate: hooks.gate,
        onEvent: hooks.onDhaEvent,
        maxTrainBytes: hooks.maxTrainBytes,
        onProgress: progress,
        signal: hooks.signal,
      },
    );
    out = r.model;
    trainSteps = r.trainSteps;
    trainTokens = r.trainTokens;
    pausedSeconds = r.pausedSeconds;
    own = r.own && { history: r.own.history, checks: r.own.checks, bestStep: r.own.bestStep };
    fusion = r.fusion;
  }
  const ownSteps = trainSteps;
  // Progressive fusion's curve comes first (from the original, tokens from 0); the recovery's follows it.
  let curve: TrainPoint[] = fusion ? [...fusion.curve] : [];
  let e2eSteps = 0;
  const t = config.train;
  if (t?.steps) {
    if (!seqs.length) throw new Error('recovery training needs calibration text: none of the calibration sequences has two tokens');
    const conversionTokens = trainTokens;
    const batch = t.batch ?? TRAIN_DEFAULTS.batch;
    const seqLen = Math.min(t.seqLen ?? TRAIN_DEFAULTS.seqLen, model.config.contextLength);
    e2eSteps = recoverySteps(t.steps, batch * seqLen, conversionTokens);
    const shift = <P extends TrainPoint>(p: P): P => ({ ...p, tokens: p.tokens + conversionTokens });
    const r = await train(
      rt,
      out,
      seqs,
      { ...t, seed: config.seed, steps: e2eSteps },
      {
        teacher: model,
        evalDocs: data.evalDocs,
        gate: hooks.gate,
        signal: hooks.signal,
        onProgress: progress,
        maxBytes: hooks.maxTrainBytes,
        stepsBefore: t.steps - e2eSteps,
        onEvent: hooks.onTrainEvent && ((e) => hooks.onTrainEvent!(shift(e))),
      },
    );
    out = r.model;
    curve = [...curve, ...r.curve.map(shift)];
    trainSteps += r.steps;
    trainTokens += r.tokens;
    pausedSeconds += r.pausedSeconds;
  }
  if (fusion && !t?.steps && data.evalDocs?.length) {
    // The collapsed model measured where no recovery follows, so that the curve's last point is always the result.
    const gm = await GpuModel.upload(rt, out);
    try {
      curve.push({ step: curve.at(-1)?.step ?? 0, tokens: trainTokens, loss: null, ppl: (await perplexity(gm, data.evalDocs, { signal: hooks.signal })).ppl });
    } finally {
      gm.release();
    }
  }
  return {
    model: out,
    recipe,
    label: recipeLabel(recipe),
    budget,
    perLayer: out.layers.map((l) => ({ k: l.kv.kHeads, v: l.kv.vHeads })),
    kvBytesPerToken: kvBytesPerToken(out),
    calibrationTokens: calibrated || t?.steps ? calibrationTokens : 0,
    trainSteps,
    trainTokens,
    ownSteps,
    recoverySteps: e2eSteps,
    curve,
    own,
    fusion,
    mla,
    seconds: (performance.now() - t0) / 1000 - pausedSeconds,
  };
}
