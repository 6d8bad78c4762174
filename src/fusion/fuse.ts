// One entry for every fusion method, shared by the CLI, the page and the tests: calibrate, convert, and report in progress
// events. Evaluation (perplexity before/after) is the caller's, with the ordinary forward pass.
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import { GpuModel } from '../eval/gpuModel';
import { calibrate, calibrationSequences, type LayerGram } from '../analysis/calibration';
import { kvBytesPerToken } from '../model/heads';
import type { LongWorkOptions, Progress } from '../progress';
import { alignedMerge, meanPool } from './methods';
import { dhaFuse, type DhaOptions, type DhaEvent } from './dha';

export type FusionMethod = 'meanpool' | 'aligned' | 'dha';
export const FUSION_METHODS: FusionMethod[] = ['meanpool', 'aligned', 'dha'];

export interface FuseOptions extends LongWorkOptions {
  method: FusionMethod;
  /** Share of K heads and of V heads kept, in (0, 1]. */
  budget: number;
  /** Calibration token sequences (each from position 0, at most the model's context). */
  calibration: number[][];
  /** DHA: gradient steps of the fusion stage, seed, tokens per step, recovery steps and learning rates. */
  dha?: Partial<DhaOptions>;
  /** Aligned merge: rescale merged heads to the members' mean energy (ours). */
  renormalise?: boolean;
  /** DHA: called with every step's state (budgets, losses, operators) for live views. */
  onDhaEvent?: (e: DhaEvent) => void;
}

export interface FuseResult {
  model: Model;
  method: FusionMethod;
  budget: number;
  perLayer: { k: number; v: number }[];
  kvBytesPerToken: number;
  calibrationTokens: number;
  trainSteps: number;
  trainTokens: number;
  /** Conversion time, without time spent paused. */
  seconds: number;
}

/** The calibration Grams of a model over sequences (for the aligned merge and DHA's search). */
export async function calibrationGrams(rt: GpuRuntime, model: Model, sequences: number[][], opts: LongWorkOptions = {}): Promise<LayerGram[]> {
  const gm = await GpuModel.upload(rt, model);
  try {
    return await calibrate(gm, sequences, opts);
  } finally {
    gm.release();
  }
}

export async function fuse(rt: GpuRuntime, model: Model, opts: FuseOptions): Promise<FuseResult> {
  const t0 = performance.now();
  const seqs = opts.calibration.flatMap((s) => calibrationSequences(s, model.config.contextLength)).filter((s) => s.length >= 2);
  const calibrationTokens = seqs.reduce((a, s) => a + s.length, 0);
  const progress = (p: Progress) => opts.onProgress?.(p);
  let out: Model;
  let trainSteps = 0;
  let trainTokens = 0;
  let pausedSeconds = 0;
  if (opts.method === 'meanpool') {
    out = meanPool(model, opts.budget);
  } else {
    if (!seqs.length) throw new Error(`${opts.method} needs calibration text: none of the calibration sequences has two tokens`);
    if (opts.method === 'aligned') {
      const grams = await calibrationGrams(rt, model, seqs, { onProgress: progress, signal: opts.signal });
      out = (await alignedMerge(model, grams, opts.budget, { rt, renormalise: opts.renormalise, onProgress: progress, signal: opts.signal })).model;
    } else {
      const r = await dhaFuse(rt, model, seqs, { ...opts.dha, budget: opts.budget, onProgress: progress, signal: opts.signal, onEvent: opts.onDhaEvent });
      out = r.model;
      trainSteps = r.trainSteps;
      trainTokens = r.trainTokens;
      pausedSeconds = r.pausedSeconds;
    }
  }
  return {
    model: out,
    method: opts.method,
    budget: opts.budget,
    perLayer: out.layers.map((l) => ({ k: l.kv.kHeads, v: l.kv.vHeads })),
    kvBytesPerToken: kvBytesPerToken(out),
    calibrationTokens: opts.method === 'meanpool' ? 0 : calibrationTokens,
    trainSteps,
    trainTokens,
    seconds: (performance.now() - t0) / 1000 - pausedSeconds,
  };
}
