// One fusion run in the compute core (src/lab/compute/host.ts), without UI state: prepare the texts, convert the model (and
// train it toward the original when asked), measure held-out perplexity before and after, and build the result's experiment
// record and table row. The Fuse heads panel runs one; the recovery race runs one per lane with the same training tokens.
import type { LoadedModel } from '../model/load';
import type { Tokenizer } from '../model/tokenizer';
import type { GpuRuntime } from '../gpu/runtime';
import { GpuModel } from '../eval/gpuModel';
import { perplexity, splitDocuments, tokenizeDocuments, type PerplexityResult } from '../eval/perplexity';
import { calibrationTokens } from '../analysis/calibration';
import { fuse, type FuseResult, type FusionMethod } from '../fusion/fuse';
import { DHA_DEFAULTS, type DhaAllocation, type DhaEvent, type DhaKvSplit } from '../fusion/dha';
import { MLA_DEFAULTS } from '../fusion/mlaDefaults';
import { variantLabel, type LaneSettings } from './variants';
import { CONTROL_BY_KEY } from './settings';
import { fitsLlama2c, modelHash, type ExportFile } from '../fusion/export';
import { kvBytesPerToken, layoutsOf, type HeadLayout } from '../model/heads';
import type { TrainPoint, TrainEvent, TrainLoss } from '../train/trainer';
import type { TrainableSet } from '../train/params';
import type { Progress } from '../progress';

/** A loaded model as the core keeps it: the model, the tokenizer files it came with, and its weights on the GPU on demand. */
export interface SourceModel {
  loaded: LoadedModel;
  tokenizerFiles: [string, Blob][];
  gpuModel: () => Promise<GpuModel>;
}

export type HeadCounts = { k: number; v: number }[];
/** Latent KV (MLA): per layer the latent's width, the rotary pairs each K head keeps, and the share of K/V energy kept. */
export type LatentSizes = NonNullable<FuseResult['mla']>;

/** End-to-end recovery training after the conversion (distillation from the original on the calibration text). */
export interface RecoverySettings {
  steps: number;
  lr: number;
  params: TrainableSet;
  loss: TrainLoss;
  /** Sequences per step and positions per sequence. */
  batch: number;
  seqLen: number;
  /** Held-out perplexity every this many steps (and after the last). */
  evalEvery: number;
}

export interface FusionSettings extends LaneSettings {
  method: FusionMethod;
  /** Share of K heads and of V heads kept, in (0, 1]. */
  budget: number;
  /** Calibration: the first N tokens of the calibration text. */
  calibrationTokens: number;
  /** DHA: steps of its layer-local training, seed, tokens per step, sequence length. */
  steps: number;
  seed: number;
  tokensPerStep: number;
  seqLen: number;
  /** End-to-end training after the conversion; null: none. Its steps are every method's budget: DHA's own come out of it. */
  train: RecoverySettings | null;
  /** Aligned merge: rescale merged heads to their members' mean energy (DHA's merge always does). */
  renormalise: boolean;
  /** DHA: counts per layer from its search or uniform; K and V budgets apart or one joint K+V budget. */
  allocation: DhaAllocation;
  kvSplit: DhaKvSplit;
  /** Latent KV (MLA): the pair choice, what the latent is fitted to, the pairs kept (absent: automatic). */
  mla?: LaneSettings['mla'];
}

/** A text for the run: its content and how it is named in the results. */
export interface NamedText {
  text: string;
  name: string;
}

/**
 * Where the calibration and evaluation tokens come from: evaluate on the last `heldOutDocs` documents of the evaluation text
 * and, when calibration reads the same text, calibrate (and train) only on the documents before them.
 */
export interface FusionTexts {
  calibration: NamedText;
  evaluation: NamedText & { heldOutDocs: number };
  /** The two texts are the same (the built-in sample): calibration then leaves out the evaluation documents. */
  sameText: boolean;
}

export interface Continuation {
  text: string;
  tokens: number;
  kvCacheBytes: number;
  done: boolean;
  error: string | null;
}

export interface Comparison {
  prompt: string;
  maxTokens: number;
  running: boolean;
  original: Continuation;
  fused: Continuation;
}

export interface ResultRow {
  /** The compute core's id of the fused result (its files and continuations). */
  id: number;
  /** The core's id of the model it was converted from. */
  sourceModelId: number;
  model: string;
  method: FusionMethod;
  /** What was run, in words (the method and its switches: renormalisation, DHA's allocation, split and own steps). */
  label: string;
  budget: number;
  perLayer: HeadCounts;
  /** Latent KV (MLA) runs: per layer the latent's width and the rotary pairs each K head keeps (absent: K/V heads). */
  latent?: LatentSizes | null;
  pplBefore: number;
  /** After the conversion, before recovery training (null without training). */
  pplConverted: number | null;
  pplAfter: number;
  evalTokens: number;
  evalDocuments: number;
  evalText: string;
  kvBefore: number;
  kvAfter: number;
  /** Seconds the conversion (and training) took, without time spent paused (evaluation not included). */
  seconds: number;
  /** Gradient steps and tokens of every stage: DHA's own and the recovery. */
  trainSteps: number;
  trainTokens: number;
  /** The recovery training's curve (tokens counted from the conversion's own); empty without it. */
  curve: TrainPoint[];
  recoverySteps: number;
  calibrationTokens: number;
  seed: number;
  /** The fused model's head layouts, with the original heads each head came from (and each latent layer's shape). */
  layouts: HeadLayout[];
  /** File names offered for download, in order. */
  fileNames: string[];
  comparison: Comparison | null;
  /** Restored from the browser's storage after a reload: its files come from there, not from the compute core. */
  restored?: boolean;
}

/** Names a budget: 0.5 → "50 %", 0.375 → "37.5 %". */
export function budgetLabel(budget: number): string {
  return `${Number((budget * 100).toFixed(2))} %`;
}

/** Heads per layer as "K/V K/V …". */
export function compactCounts(perLayer: HeadCounts): string {
  return perLayer.map((p) => `${p.k}/${p.v}`).join(' ');
}

/** Rotary key dims a latent layer caches per token: 2 per kept pair, in every K head. */
const rotaryDimsOf = (kHeads: number, l: LatentSizes[number]) => 2 * l.ropePairs * kHeads;

/**
 * What each layer caches per token, compactly: its K/V heads ("4/4 4/4 …"), or for latent KV (MLA) the latent's width d_c
 * plus the kept rotary key dims of all its K heads ("48+16 48+16 …").
 */
export function compactShape(perLayer: HeadCounts, latent?: LatentSizes | null): string {
  return latent ? latent.map((l, i) => `${l.rank}+${rotaryDimsOf(perLayer[i].k, l)}`).join(' ') : compactCounts(perLayer);
}

/** The same, one line per layer in words (a tooltip). */
export function shapeLines(perLayer: HeadCounts, latent?: LatentSizes | null): string[] {
  return perLayer.map((p, i) => {
    const l = latent?.[i];
    if (!l) return `layer ${i}: ${p.k} K, ${p.v} V heads`;
    const pairs = `${l.ropePairs} rotary pair${l.ropePairs === 1 ? '' : 's'}`;
    return (
      `layer ${i}: a latent of ${l.rank} values + ${p.k} K heads × ${pairs} (${rotaryDimsOf(p.k, l)} rotary key dims) per token; ` +
      `the latent keeps ${(100 * l.kept).toFixed(1)} % of the position-free K and V energy`
    );
  });
}

/** The command line's flags in the core's messages, as the page names the controls that set them. */
const PAGE_WORDS: [string, string][] = [['--rope-pairs', `the “${CONTROL_BY_KEY.get('fuse.ropePairs')!.label}” control`]];

/** An error of the core, worded for the page (its class kept): "keep fewer rotary pairs (the “rotary pairs” control)". */
export function inPageWords(e: unknown): unknown {
  if (!(e instanceof Error) || !PAGE_WORDS.some(([flag]) => e.message.includes(flag))) return e;
  const message = PAGE_WORDS.reduce((m, [flag, words]) => m.replaceAll(flag, words), e.message);
  return e instanceof RangeError ? new RangeError(message) : new Error(message);
}

/**
 * Calibration tokens and evaluation documents for a run: evaluation is the last `heldOutDocs` documents of its text
 * (split on <|endoftext|>); calibration is the first N tokens of its text, without those documents when it is the same
 * text, so that nothing evaluated was seen in calibration or training.
 */
export function prepareTexts(tokenizer: Tokenizer, context: number, texts: FusionTexts, maxCalibration: number) {
  const evalDocs = splitDocuments(texts.evaluation.text, { split: 'endoftext' });
  const held = Math.max(1, Math.min(texts.evaluation.heldOutDocs, evalDocs.length));
  const evaluation = evalDocs.slice(evalDocs.length - held);
  let calText = texts.calibration.text;
  let calNote = texts.calibration.name;
  if (texts.sameText) {
    const rest = evalDocs.slice(0, evalDocs.length - held);
    calText = rest.join('\n<|endoftext|>\n');
    calNote = `${texts.calibration.name}, documents 1–${rest.length}`;
  }
  const calibration = calibrationTokens(tokenizer, calText, maxCalibration);
  const docs = tokenizeDocuments(evaluation, tokenizer, context);
  const evalName = `the last ${held} documents of ${texts.evaluation.name} (documents ${evalDocs.length - held + 1}–${evalDocs.length})`;
  return { calibration, calibrationName: calNote, docs, evalName };
}

export interface FusionHooks {
  signal: AbortSignal;
  gate: () => Promise<void>;
  /** A line for the status: the stage and its progress. */
  onStage: (text: string) => void;
  onDhaEvent?: (e: DhaEvent) => void;
  onTrainEvent?: (e: TrainEvent) => void;
  /** The original model's held-out perplexity, as soon as it is known. */
  onBefore?: (before: PerplexityResult, evalName: string) => void;
}

export interface FusionOutcome {
  result: FuseResult;
  before: PerplexityResult;
  after: PerplexityResult;
  experiment: Record<string, unknown>;
  tokenizerFiles: ExportFile[];
  evalName: string;
}

const beforeCache = new WeakMap<LoadedModel, Map<string, PerplexityResult>>();

/** Converts (and trains) the model, and measures perplexity before and after on the held-out documents. */
export async function fuseAndEvaluate(
  rt: GpuRuntime,
  source: SourceModel,
  settings: FusionSettings,
  texts: FusionTexts,
  hooks: FusionHooks,
): Promise<FusionOutcome> {
  const { loaded } = source;
  const model = loaded.model;
  const progress = (label: string) => (p: Progress) => hooks.onStage(`${label}${p.stage}: ${p.done} / ${p.total}${p.detail ? ` — ${p.detail}` : ''}`);
  if (!loaded.tokenizer) throw new Error(`${loaded.name} has no tokenizer, so it cannot read the calibration and evaluation texts.`);
  if (!(settings.budget > 0 && settings.budget <= 1)) throw new RangeError(`The KV budget must be in (0 %, 100 %]; got ${budgetLabel(settings.budget)}.`);
  const train = settings.train && settings.train.steps > 0 ? settings.train : null;
  const prep = prepareTexts(loaded.tokenizer, model.config.contextLength, texts, settings.method === 'meanpool' && !train ? 0 : settings.calibrationTokens);
  if (!prep.docs.length) throw new Error(`No evaluation documents of two tokens or more in ${texts.evaluation.name}.`);
  // Perplexity before: once per model and evaluation text.
  const evalKey = `${texts.evaluation.name}\u0000${texts.evaluation.heldOutDocs}\u0000${texts.evaluation.text.length}`;
  let cache = beforeCache.get(loaded);
  if (!cache) beforeCache.set(loaded, (cache = new Map()));
  let before = cache.get(evalKey);
  if (!before) {
    before = await perplexity(await source.gpuModel(), prep.docs, { signal: hooks.signal, onProgress: progress('perplexity before — ') });
    cache.set(evalKey, before);
  }
  hooks.onBefore?.(before, prep.evalName);
  hooks.onStage(settings.method === 'meanpool' ? 'pooling heads' : 'calibration');
  const { steps, seed, tokensPerStep, seqLen, allocation, kvSplit } = settings;
  const dha = { steps, seed, tokensPerStep, seqLen, allocation, kvSplit };
  const r = await fuse(rt, model, {
    method: settings.method,
    budget: settings.budget,
    calibration: [prep.calibration],
    renormalise: settings.renormalise,
    dha,
    mla: settings.mla,
    train: train ? { ...train, seed: settings.seed, loss: train.loss } : undefined,
    evalDocs: train ? prep.docs : null,
    gate: hooks.gate,
    onDhaEvent: hooks.onDhaEvent,
    onTrainEvent: hooks.onTrainEvent,
    onProgress: progress(''),
    signal: hooks.signal,
  }).catch((e: unknown) => {
    throw inPageWords(e);
  });
  let after: PerplexityResult;
  const last = r.curve.at(-1)?.ppl;
  if (last != null) {
    // The recovery curve's last point measured the final model on the same documents.
    after = { ...before, ppl: last, nll: Math.log(last) * before.tokens, seconds: 0 };
  } else {
    const gm = await GpuModel.upload(rt, r.model);
    try {
      after = await perplexity(gm, prep.docs, { signal: hooks.signal, onProgress: progress('perplexity after — ') });
    } finally {
      gm.release();
    }
  }
  const tokenizerFiles: ExportFile[] = [];
  for (const [name, blob] of source.tokenizerFiles) tokenizerFiles.push({ name, data: new Uint8Array(await blob.arrayBuffer()) });
  const experiment: Record<string, unknown> = {
    producer: 'headlab page',
    source: { name: loaded.name, modelHash: modelHash(model) },
    seed: settings.seed,
    method: settings.method,
    label: variantLabel(settings),
    renormalise: settings.method === 'aligned' ? settings.renormalise : undefined,
    budget: settings.budget,
    perLayer: r.perLayer,
    pplBefore: before.ppl,
    pplConverted: train ? (r.curve[0]?.ppl ?? null) : null,
    pplAfter: after.ppl,
    kvBytesPerTokenBefore: kvBytesPerToken(model),
    kvBytesPerToken: r.kvBytesPerToken,
    calibrationTokens: r.calibrationTokens,
    calibrationText: r.calibrationTokens ? prep.calibrationName : null,
    evalTokens: after.tokens,
    evalText: prep.evalName,
    trainSteps: r.trainSteps,
    trainTokens: r.trainTokens,
    seconds: r.seconds,
    dha: r.dha
      ? {
          ...DHA_DEFAULTS,
          ...dha,
          ...r.dha,
        }
      : undefined,
    mla: r.mla ? { ...MLA_DEFAULTS, ropePairs: 'automatic', ...settings.mla, layers: r.mla } : undefined,
    recoverySteps: r.recoverySteps,
    train: train ?? undefined,
    curve: r.curve,
    maps: r.model.layers.map((l) => ({ kHeadOf: l.kv.kHeadOf, vHeadOf: l.kv.vHeadOf })),
    adapter: rt.summary.description || `${rt.summary.vendor} ${rt.summary.architecture}`,
    date: new Date().toISOString(),
  };
  return { result: r, before, after, experiment, tokenizerFiles, evalName: prep.evalName };
}

/** The results-table row of a finished run. */
export function resultRow(id: number, source: { id: number; loaded: LoadedModel }, settings: FusionSettings, o: FusionOutcome): ResultRow {
  const r = o.result;
  const { loaded } = source;
  return {
    id,
    sourceModelId: source.id,
    model: loaded.name,
    method: settings.method,
    label: variantLabel(settings),
    budget: settings.budget,
    perLayer: r.perLayer,
    latent: r.mla,
    pplBefore: o.before.ppl,
    pplConverted: r.curve.length ? r.curve[0].ppl : null,
    pplAfter: o.after.ppl,
    evalTokens: o.after.tokens,
    evalDocuments: o.after.documents,
    evalText: o.evalName,
    kvBefore: kvBytesPerToken(loaded.model),
    kvAfter: r.kvBytesPerToken,
    seconds: r.seconds,
    trainSteps: r.trainSteps,
    trainTokens: r.trainTokens,
    curve: r.curve,
    recoverySteps: settings.train?.steps ?? 0,
    calibrationTokens: r.calibrationTokens,
    seed: settings.seed,
    layouts: layoutsOf(r.model),
    fileNames: ['config.json', 'model.safetensors', ...(fitsLlama2c(r.model) ? ['model.bin'] : []), ...o.tokenizerFiles.map((f) => f.name), 'experiment.json'],
    comparison: null,
  };
}
