// A conversion's own layer-local steps (DHA's stage 3 in our reconstruction, docs/ALGORITHMS.md §4.3; any head-sharing
// recipe may take them): the merged model's attention, layer by layer, learns to reproduce the original layer's attention
// output, by Adam on ‖O − O_T‖² / ‖O_T‖², its input taken from the merged model itself (GPTQ-style, i.e. as GPTQ quantises
// a layer on the outputs of the already-quantised layers before it: later layers learn to compensate earlier ones) or from
// the original. What trains is always the merged model; every `checkEvery` steps its KL(original ‖ merged) on fixed
// calibration windows is measured and the best state (step 0 included) is the one returned, so more steps never give a
// worse model than fewer on that probe. Every step sees `tokensPerStep` calibration tokens.
import type { Model } from '../model/types';
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { GpuModel } from '../eval/gpuModel';
import { ForwardPass } from '../eval/forward';
import { throwIfAborted } from '../progress';
import type { LongWorkOptions } from '../progress';
import type { SearchEvent } from './grouping';
import type { FusionStepEvent } from './progressive';
import type { OwnStepSettings } from './recipe';
import { ATTENTION_WEIGHTS, LayerTrainer, type AttentionWeight } from './layerTrainer';
import { trainingWindows, WindowSampler } from '../train/data';
import { TimedGate } from '../progress';
import { trainingLoss } from '../gpu/kernels/layerGrads';
import { reduceRows } from '../gpu/kernels/reduce';

/** How the own steps run: their number, seed, settings, and the hooks between steps. */
export interface OwnStepOptions extends OwnStepSettings {
  steps: number;
  seed: number;
  /** Called between steps; resolves when the run may go on (pause / single step in the UI). */
  gate?: () => Promise<void>;
  onEvent?: (e: DhaEvent) => void;
}

export type DhaEvent =
  | SearchEvent
  | FusionStepEvent
  | {
      phase: 'fusion';
      step: number;
      steps: number;
      /** Mean layer-local loss this step (relative squared error of attention outputs). */
      loss: number;
      lossPerLayer: number[];
      perLayer: { k: number; v: number }[];
      tokens: number;
    }
  | {
      /** The fused model's KL(original ‖ fused) per token on the fixed calibration probe, after `step` steps. */
      phase: 'check';
      step: number;
      kl: number;
      /** The step whose state is kept so far. */
      bestStep: number;
    };

/** Every layer's attention input for a batch of windows, from a model's forward pass (the original: teacher forcing). */
class LayerInputs {
  private constructor(
    readonly fp: ForwardPass,
    readonly X: GpuTensor[],
    readonly gm: GpuModel,
  ) {}
  static async create(rt: GpuRuntime, model: Model, B: number, T: number): Promise<LayerInputs> {
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: B, chunk: T, cacheT: T });
    const X: GpuTensor[] = [];
    for (let l = 0; l < model.layers.length; l++) X.push(await rt.tensor(`layer input X ${l}`, B * T * model.config.dim));
    return new LayerInputs(fp, X, gm);
  }
  async run(windows: number[][], T: number) {
    const ids = Uint32Array.from(windows.flat());
    const rt = this.gm.rt;
    await this.fp.run(ids, T, 0, undefined, {
      skipLogits: true,
      attentionInput: async (layer, x, rows) => rt.copy(x, this.X[layer], rows * this.gm.model.config.dim),
    });
  }
  release() {
    this.fp.release();
    this.X.forEach((t) => this.gm.rt.release(t));
    this.gm.release();
  }
}

/** Mean KL(teacher ‖ student) per token over fixed windows (B sequences of T), with the eval forward of both models. */
class KlProbe {
  private constructor(
    private readonly rt: GpuRuntime,
    private readonly tf: ForwardPass,
    private readonly sf: ForwardPass,
    private readonly t: Record<string, GpuTensor>,
    private readonly ids: Uint32Array,
    private readonly T: number,
  ) {}
  static async create(rt: GpuRuntime, teacher: GpuModel, student: GpuModel, windows: number[][]): Promise<KlProbe> {
    const T = windows[0].length;
    const shape = { batch: windows.length, chunk: T, cacheT: T };
    const R = windows.length * T;
    const t = { targets: await rt.tensor('probe targets', new Uint32Array(R)), rows: await rt.tensor('probe row KL', R), sum: await rt.tensor('probe KL', 1) };
    return new KlProbe(rt, await ForwardPass.create(teacher, shape), await ForwardPass.create(student, shape), t, Uint32Array.from(windows.flat()), T);
  }
  async kl(): Promise<number> {
    const R = this.ids.length;
    await this.tf.run(this.ids, this.T, 0);
    await this.sf.run(this.ids, this.T, 0);
    await trainingLoss(this.rt, this.sf.logits, this.tf.logits, this.t.targets, this.t.rows, {
      rows: R,
      vocab: this.sf.gm.model.config.vocab,
      klWeight: 1,
      scale: 0,
    });
    await reduceRows(this.rt, 'sum', this.t.rows, this.t.sum, 1, R);
    return (await this.rt.read(this.t.sum))[0] / R;
  }
  release() {
    this.tf.release();
    this.sf.release();
    Object.values(this.t).forEach((x) => this.rt.release(x));
  }
}

/** What layer-local training gives back: the kept model, its loss per step, the probe's checks and the step kept. */
export interface LayerLocalResult {
  model: Model;
  trainTokens: number;
  bestStep: number;
  checks: { step: number; kl: number }[];
  history: { step: number; loss: number }[];
  pausedSeconds: number;
}

/** The fused model with the attention weights of a kept state (host copies per layer) put back. */
function withWeights(fused: Model, weights: Map<AttentionWeight, Float32Array>[]): Model {
  const layers = fused.layers.map((l, i) => {
    const attn = { ...l.attn };
    for (const name of ATTENTION_WEIGHTS) if (weights[i].has(name)) attn[name] = weights[i].get(name)!;
    return { ...l, attn };
  });
  return { ...fused, layers };
}

/**
 * Stages 3 and 4: `o.steps` steps of layer-local training of `fused` toward `model`, B windows of the sampler per step,
 * every layer in order (its input from the fused model or the original, `o.inputs`); the probe's KL every `checkEvery`
 * steps and after the last; the best state (step 0 included) is the one returned.
 */
export async function layerLocalTraining(
  rt: GpuRuntime,
  model: Model,
  fused: Model,
  sampler: WindowSampler,
  B: number,
  o: OwnStepOptions,
  signal?: AbortSignal,
  onProgress?: LongWorkOptions['onProgress'],
): Promise<LayerLocalResult> {
  const L = model.layers.length;
  const T = sampler.T;
  const windows = sampler.all;
  const perLayer = fused.layers.map((l) => ({ k: l.kv.kHeads, v: l.kv.vHeads }));
  // The probe: fixed windows spread over the calibration text, about a step's tokens.
  const probeCount = Math.max(1, Math.min(windows.length, B));
  const probeWindows = Array.from({ length: probeCount }, (_, i) => windows[Math.floor((i * windows.length) / probeCount)]);
  const gate = new TimedGate(o.gate);
  const teacherIn = await LayerInputs.create(rt, model, B, T);
  let studentIn: LayerInputs | null = null;
  let probe: KlProbe | null = null;
  const targets: GpuTensor[] = [];
  const teachers: LayerTrainer[] = [];
  const students: LayerTrainer[] = [];
  const history: LayerLocalResult['history'] = [];
  const checks: LayerLocalResult['checks'] = [];
  try {
    studentIn = await LayerInputs.create(rt, fused, B, T);
    probe = await KlProbe.create(rt, teacherIn.gm, studentIn.gm, probeWindows);
    for (let l = 0; l < L; l++) {
      teachers.push(await LayerTrainer.create(rt, { model, layer: l, B, T, mode: 'frozen' }));
      students.push(await LayerTrainer.create(rt, { model: fused, layer: l, B, T, mode: o.params }));
      targets.push(await rt.tensor(`target ${l}`, B * T * model.config.dim));
    }
    /** The fused model's trained weights, layer by layer (host copies). */
    const snapshot = async () =>
      Promise.all(students.map(async (s) => new Map(await Promise.all(s.trainables.map(async (x) => [x.name, await rt.read(x.param)] as const)))));
    let best = { step: 0, kl: await probe.kl(), weights: null as Map<AttentionWeight, Float32Array>[] | null };
    checks.push({ step: 0, kl: best.kl });
    o.onEvent?.({ phase: 'check', step: 0, kl: best.kl, bestStep: 0 });
    let trainTokens = 0;
    for (let step = 1; step <= o.steps; step++) {
      throwIfAborted(signal);
      await gate.pass();
      const batch = sampler.nextWindows(B);
      await teacherIn.run(batch, T);
      if (o.inputs === 'student') await studentIn.run(batch, T);
      const losses: number[] = [];
      for (let l = 0; l < L; l++) {
        const t = teachers[l];
        const s = students[l];
        t.setInput(teacherIn.X[l]);
        await t.forward();
        rt.copy(t.output, targets[l], B * T * model.config.dim);
        s.setInput((o.inputs === 'student' ? studentIn : teacherIn).X[l]);
        await s.setTarget(targets[l]);
        await s.forward();
        losses.push(await s.loss());
        await s.backward();
        await s.step(o.lr);
        // The fused model the next layers (and the probe) read is the one being trained.
        const gl = studentIn.gm.layers[l];
        for (const x of s.trainables) rt.copy(x.param, gl[x.name]!);
      }
      trainTokens += B * T;
      const loss = losses.reduce((a, b) => a + b, 0) / L;
      history.push({ step, loss });
      o.onEvent?.({ phase: 'fusion', step, steps: o.steps, loss, lossPerLayer: losses, perLayer, tokens: trainTokens });
      onProgress?.({ stage: 'fusion', done: step, total: o.steps, detail: `layer loss ${loss.toExponential(3)}` });
      if (step === o.steps || (o.checkEvery > 0 && step % o.checkEvery === 0)) {
        const kl = await probe.kl();
        checks.push({ step, kl });
        if (kl < best.kl) best = { step, kl, weights: await snapshot() };
        o.onEvent?.({ phase: 'check', step, kl, bestStep: best.step });
      }
    }
    const kept = best.weights ? withWeights(fused, best.weights) : fused;
    return { model: kept, trainTokens, bestStep: best.step, checks, history, pausedSeconds: gate.pausedSeconds };
  } finally {
    [...teachers, ...students].forEach((s) => s.release());
    targets.forEach((t) => rt.release(t));
    probe?.release();
    teacherIn.release();
    studentIn?.release();
  }
}

/**
 * The own steps of a merged model: batches of `o.tokensPerStep` calibration tokens in windows of `o.seqLen` positions, in
 * seeded epochs over `sequences`, then layerLocalTraining.
 */
export async function ownSteps(
  rt: GpuRuntime,
  model: Model,
  merged: Model,
  sequences: number[][],
  o: OwnStepOptions,
  signal?: AbortSignal,
  onProgress?: LongWorkOptions['onProgress'],
): Promise<LayerLocalResult> {
  const seqLen = Math.min(o.seqLen, o.tokensPerStep, model.config.contextLength);
  if (!trainingWindows(sequences, seqLen).length) throw new Error('own layer-local steps need calibration text of at least two tokens');
  const sampler = new WindowSampler(sequences, seqLen, o.seed, 'epochs');
  const B = Math.max(1, Math.min(sampler.count, Math.round(o.tokensPerStep / sampler.T)));
  return layerLocalTraining(rt, model, merged, sampler, B, o, signal, onProgress);
}
