// One fusion run in the compute core (src/lab/compute/host.ts), without UI state: prepare the texts, convert the model by
// the run configuration's recipe (and train it toward the original when asked), measure held-out perplexity before and
// after, and build the run's record (src/fusion/record.ts), from which the table row is derived. The Fuse heads panel runs
// one; the recovery race runs one per lane with the same training tokens.
import type { LoadedModel } from '../model/load';
import { quantises, type KvQuant } from '../model/kvQuant';
import type { Tokenizer } from '../model/tokenizer';
import type { GpuRuntime } from '../gpu/runtime';
import { GpuModel } from '../eval/gpuModel';
import { perplexity, splitDocuments, tokenizeDocuments, type PerplexityResult } from '../eval/perplexity';
import { calibrationTokens } from '../analysis/calibration';
import { fuse, type FuseResult } from '../fusion/fuse';
import type { DhaEvent } from '../fusion/ownSteps';
import { presetRecipe, readsCalibration, recipeLabel, recipeProblem, type RunConfig } from '../fusion/recipe';
import { fusionRecord, kvCacheRecord, type FusionRecord } from '../fusion/record';
import type { Model } from '../model/types';
import { CONTROL_BY_KEY } from './settings';
import { fitsLlama2c, type ExportFile } from '../fusion/export';
import { layoutsOf, type HeadLayout } from '../model/heads';
import type { TrainEvent } from '../train/trainer';
import type { Progress } from '../progress';

export type { RecoverySettings, RunConfig } from '../fusion/recipe';

/** A loaded model as the core keeps it: the model, the tokenizer files it came with, and its weights on the GPU on demand. */
export interface SourceModel {
  loaded: LoadedModel;
  tokenizerFiles: [string, Blob][];
  gpuModel: () => Promise<GpuModel>;
}

export type HeadCounts = { k: number; v: number }[];
/** Latent KV (MLA): per layer the latent's width, the rotary pairs each K head keeps, and the share of K/V energy kept. */
export type LatentSizes = NonNullable<FuseResult['mla']>;

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
  /** With `kvQuant`, the original and the converted model are also evaluated through that quantised KV cache. */
  evaluation: NamedText & { heldOutDocs: number; kvQuant?: KvQuant | null };
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

/** The record's fields a results row keeps (everything but the bulky maps and the trainer's settings). */
type RowFields = Omit<FusionRecord, 'maps' | 'train' | 'own' | 'source' | 'producer' | 'adapter' | 'date'>;

/** A row of the results table: the run's record (less what the table never shows), plus the page's handles. */
export interface ResultRow extends RowFields {
  /** The compute core's id of the fused result (its files and continuations). */
  id: number;
  /** The core's id of the model it was converted from. */
  sourceModelId: number;
  /** The source model's name. */
  model: string;
  pplBefore: number;
  pplAfter: number;
  evalTokens: number;
  evalDocuments: number;
  evalText: string;
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
  /** The run's record: experiment.json, and what the table row is derived from. */
  record: FusionRecord;
  tokenizerFiles: ExportFile[];
  evalName: string;
}

const beforeCache = new WeakMap<LoadedModel, Map<string, PerplexityResult>>();

/** Converts (and trains) the model, and measures perplexity before and after on the held-out documents. */
export async function fuseAndEvaluate(rt: GpuRuntime, source: SourceModel, config: RunConfig, texts: FusionTexts, hooks: FusionHooks): Promise<FusionOutcome> {
  const { loaded } = source;
  const model = loaded.model;
  const progress = (label: string) => (p: Progress) => hooks.onStage(`${label}${p.stage}: ${p.done} / ${p.total}${p.detail ? ` — ${p.detail}` : ''}`);
  if (!loaded.tokenizer) throw new Error(`${loaded.name} has no tokenizer, so it cannot read the calibration and evaluation texts.`);
  if (!(config.budget > 0 && config.budget <= 1)) throw new RangeError(`The KV budget must be in (0 %, 100 %]; got ${budgetLabel(config.budget)}.`);
  const problem =
    config.recipe.family === 'heads'
      ? recipeProblem(
          config.recipe,
          model.layers.map((l) => l.kv),
          config.budget,
        )
      : null;
  if (problem) throw new RangeError(`${recipeLabel(config.recipe)} at ${budgetLabel(config.budget)}: ${problem[0].toUpperCase()}${problem.slice(1)}.`);
  const train = config.train && config.train.steps > 0 ? config.train : null;
  const reads = readsCalibration(config.recipe) || !!train;
  const prep = prepareTexts(loaded.tokenizer, model.config.contextLength, texts, reads ? (config.calibrationTokens ?? Infinity) : 0);
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
  hooks.onStage(reads ? 'calibration' : 'pooling heads');
  const r = await fuse(
    rt,
    model,
    { ...config, train },
    { calibration: [prep.calibration], evalDocs: train ? prep.docs : null },
    {
      gate: hooks.gate,
      onDhaEvent: hooks.onDhaEvent,
      onTrainEvent: hooks.onTrainEvent,
      onProgress: progress(''),
      signal: hooks.signal,
    },
  ).catch((e: unknown) => {
    throw inPageWords(e);
  });
  /** Held-out perplexity of a model (the original's GPU copy is the source's own), through a quantised cache when given. */
  const evaluate = async (m: Model, label: string, kvQuant: KvQuant | null = null) => {
    if (m === model) return perplexity(await source.gpuModel(), prep.docs, { signal: hooks.signal, kvQuant, onProgress: progress(label) });
    const gm = await GpuModel.upload(rt, m);
    try {
      return await perplexity(gm, prep.docs, { signal: hooks.signal, kvQuant, onProgress: progress(label) });
    } finally {
      gm.release();
    }
  };
  const last = r.curve.at(-1)?.ppl;
  // The recovery curve's last point measured the final model on the same documents.
  const after: PerplexityResult =
    last != null ? { ...before, ppl: last, nll: Math.log(last) * before.tokens, seconds: 0 } : await evaluate(r.model, 'perplexity after — ');
  const q = texts.evaluation.kvQuant;
  const kvCache = quantises(q)
    ? kvCacheRecord(model, r.model, q, Math.max(...prep.docs.map((d) => d.length)), {
        before: (await evaluate(model, `perplexity before through the ${q.bits}-bit cache — `, q)).ppl,
        after: (await evaluate(r.model, `perplexity after through the ${q.bits}-bit cache — `, q)).ppl,
      })
    : null;
  const tokenizerFiles: ExportFile[] = [];
  for (const [name, blob] of source.tokenizerFiles) tokenizerFiles.push({ name, data: new Uint8Array(await blob.arrayBuffer()) });
  const record = fusionRecord({
    producer: 'headlab page',
    sourceName: loaded.name,
    original: model,
    config,
    result: r,
    before: before.ppl,
    after: after.ppl,
    evaluation: { tokens: after.tokens, documents: after.documents, text: prep.evalName },
    calibrationText: prep.calibrationName,
    adapter: rt.summary.description || `${rt.summary.vendor} ${rt.summary.architecture}`,
    kvCache,
  });
  return { result: r, before, after, record, tokenizerFiles, evalName: prep.evalName };
}

/** The results-table row of a finished run: its record, less what the table never shows. */
export function resultRow(id: number, source: { id: number; loaded: LoadedModel }, o: FusionOutcome): ResultRow {
  const { maps: _maps, train: _train, own: _own, source: _source, producer: _producer, adapter: _adapter, date: _date, ...fields } = o.record;
  return {
    ...fields,
    id,
    sourceModelId: source.id,
    model: source.loaded.name,
    pplBefore: o.before.ppl,
    pplAfter: o.after.ppl,
    evalTokens: o.after.tokens,
    evalDocuments: o.after.documents,
    evalText: o.evalName,
    layouts: layoutsOf(o.result.model),
    fileNames: [
      'config.json',
      'model.safetensors',
      ...(fitsLlama2c(o.result.model) ? ['model.bin'] : []),
      ...o.tokenizerFiles.map((f) => f.name),
      'experiment.json',
    ],
    comparison: null,
  };
}

/**
 * A row saved by an earlier version of the page (before the one record: kvBefore / kvAfter, no recipe), read back under
 * today's names; a row of today is returned as it is.
 */
export function upgradeRow(row: ResultRow): ResultRow {
  const old = row as ResultRow & { kvBefore?: number; kvAfter?: number };
  if (old.kvBytesPerToken !== undefined) return row;
  const { kvBefore, kvAfter, ...rest } = old;
  const recipe = rest.recipe ?? presetRecipe(rest.method, { training: rest.trainSteps > 0, fallback: false });
  return { ...rest, recipe, kvBytesPerTokenBefore: kvBefore ?? 0, kvBytesPerToken: kvAfter ?? 0, ownSteps: rest.ownSteps ?? 0 } as ResultRow;
}
