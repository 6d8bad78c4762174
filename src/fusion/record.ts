// The one record of a conversion run, built once by whoever ran it (the page's compute core, `headlab fuse`, `headlab
// example`): experiment.json is this record, the CLI's --json prints it, and the results table's row is derived from it.
// One name per quantity.
import type { Model } from '../model/types';
import { modelKvCacheSize, type KvQuant } from '../model/kvQuant';
import { kvBytesPerToken } from '../model/heads';
import { modelHash } from './export';
import { convertedPpl, type FuseResult } from './fuse';
import { type FusionMethod, type Recipe, type RunConfig, type TrainSettings } from './recipe';

export interface FusionRecord {
  producer: string;
  source: { name: string; modelHash: string };
  method: FusionMethod;
  /** The preset and the choices that differ from it, in words. */
  label: string;
  /** The recipe that ran, every choice spelled out. */
  recipe: Recipe;
  budget: number;
  seed: number;
  perLayer: { k: number; v: number }[];
  kTotal: number;
  vTotal: number;
  /** Latent KV (MLA): per layer the latent's width, the rotary pairs each K head keeps and the energy kept; null for heads. */
  latent: FuseResult['mla'];
  /** Held-out perplexity of the original, after the conversion (before recovery; null without recovery), and at the end. */
  pplBefore: number | null;
  pplConverted: number | null;
  pplAfter: number | null;
  /** Predicted tokens and documents of the held-out text, and what it is (null: none evaluated). */
  evalTokens: number | null;
  evalDocuments: number | null;
  evalText: string | null;
  kvBytesPerTokenBefore: number;
  kvBytesPerToken: number;
  /** Calibration tokens read (0 when the conversion read none and nothing trained), and what they are. */
  calibrationTokens: number;
  calibrationText: string | null;
  /** Gradient steps and tokens of every stage: the conversion's own steps and the end-to-end recovery. */
  trainSteps: number;
  trainTokens: number;
  ownSteps: number;
  recoverySteps: number;
  /** The recovery's settings as given (null: none). */
  train: (TrainSettings & { seed: number }) | null;
  curve: FuseResult['curve'];
  /** Own steps: the layer-local loss per step, the probe's KL per check and the step whose state was kept. */
  own: FuseResult['own'];
  /** Progressive fusion: per step the loss, ρ, the rows' largest disagreement, per layer Σ c_g and max λ_g; the disagreement at the collapse. */
  fusion: { history: NonNullable<FuseResult['fusion']>['history']; disagreement: number } | null;
  /**
   * The converted model also evaluated through a quantised KV cache (src/model/kvQuant.ts; null: not asked): the choice, the
   * context its bytes are counted at, 16-bit-equivalent bytes per token of the original and the converted model with that
   * cache, and their held-out perplexities through it.
   */
  kvCache: KvCacheRecord | null;
  /** Conversion and training seconds, without time paused (evaluation not included). */
  seconds: number;
  /** Every layer's map from query head to K head and to V head. */
  maps: { kHeadOf: number[]; vHeadOf: number[] }[];
  adapter: string;
  date: string;
}

/**
 * A run also evaluated through a quantised KV cache: the choice, the context its bytes are counted at (the longest held-out
 * document), bytes per token of the original and the converted model through it — exact positions in 16 bits as deployed,
 * and in f32 as the lab computes — and their held-out perplexities through it.
 */
export interface KvCacheRecord {
  quant: KvQuant;
  context: number;
  bytesPerTokenBefore: number;
  bytesPerToken: number;
  bytesPerTokenBeforeF32: number;
  bytesPerTokenF32: number;
  pplBefore: number | null;
  pplAfter: number | null;
}

export function kvCacheRecord(
  original: Model,
  converted: Model,
  quant: KvQuant,
  context: number,
  ppl: { before: number | null; after: number | null },
): KvCacheRecord {
  const size = (m: Model, bits: 16 | 32) => modelKvCacheSize(m, quant, context, bits).bytesPerToken;
  return {
    quant,
    context,
    bytesPerTokenBefore: size(original, 16),
    bytesPerToken: size(converted, 16),
    bytesPerTokenBeforeF32: size(original, 32),
    bytesPerTokenF32: size(converted, 32),
    pplBefore: ppl.before,
    pplAfter: ppl.after,
  };
}

export interface RecordInput {
  producer: string;
  sourceName: string;
  original: Model;
  config: RunConfig;
  result: FuseResult;
  before: number | null;
  after: number | null;
  evaluation: { tokens: number; documents: number; text: string } | null;
  calibrationText: string | null;
  adapter: string;
  kvCache?: FusionRecord['kvCache'];
}

/** The record of a finished run. */
export function fusionRecord(i: RecordInput): FusionRecord {
  const r = i.result;
  const sum = (f: (p: { k: number; v: number }) => number) => r.perLayer.reduce((a, p) => a + f(p), 0);
  return {
    producer: i.producer,
    source: { name: i.sourceName, modelHash: modelHash(i.original) },
    method: r.recipe.preset,
    label: r.label,
    recipe: r.recipe,
    budget: r.budget,
    seed: i.config.seed,
    perLayer: r.perLayer,
    kTotal: sum((p) => p.k),
    vTotal: sum((p) => p.v),
    latent: r.mla,
    pplBefore: i.before,
    pplConverted: convertedPpl(r),
    pplAfter: i.after,
    evalTokens: i.evaluation?.tokens ?? null,
    evalDocuments: i.evaluation?.documents ?? null,
    evalText: i.evaluation?.text ?? null,
    kvBytesPerTokenBefore: kvBytesPerToken(i.original),
    kvBytesPerToken: r.kvBytesPerToken,
    calibrationTokens: r.calibrationTokens,
    calibrationText: r.calibrationTokens ? i.calibrationText : null,
    trainSteps: r.trainSteps,
    trainTokens: r.trainTokens,
    ownSteps: r.ownSteps,
    recoverySteps: r.recoverySteps,
    train: i.config.train ? { ...i.config.train, seed: i.config.seed } : null,
    curve: r.curve,
    own: r.own,
    fusion: r.fusion && { history: r.fusion.history, disagreement: r.fusion.disagreement },
    kvCache: i.kvCache ?? null,
    seconds: r.seconds,
    maps: r.model.layers.map((l) => ({ kHeadOf: [...l.kv.kHeadOf], vHeadOf: [...l.kv.vHeadOf] })),
    adapter: i.adapter,
    date: new Date().toISOString(),
  };
}
