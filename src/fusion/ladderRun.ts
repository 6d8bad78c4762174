// Climbing the ladder (src/fusion/ladder.ts) on one model at one budget: every rung converted and trained on the same total
// training tokens and the same batches for each of K seeds (and the latent beside it), its held-out perplexity after the
// conversion and after training. DOM-free: `headlab ladder` prints it; each finished run is reported as it comes, so a long
// measurement can be written row by row.
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import { GpuModel } from '../eval/gpuModel';
import { perplexity } from '../eval/perplexity';
import type { LongWorkOptions } from '../progress';
import { convertedPpl, fuse } from './fuse';
import { effect, ladder, latentBeside, spread } from './ladder';
import type { Recipe, TrainSettings } from './recipe';
import { quantises, type KvQuant } from '../model/kvQuant';

export interface LadderOptions {
  budget: number;
  /** Training seeds: every rung trains once per seed (the same batches for the same seed). */
  seeds: number[];
  calibration: number[][];
  evalDocs: number[][];
  /** The training after each conversion; null: the rungs are compared as converted only. */
  train: TrainSettings | null;
  /** The last rung's own layer-local steps, each of `ownTokensPerStep` tokens in windows of `ownSeqLen`. */
  ownSteps: number;
  ownTokensPerStep: number;
  ownSeqLen: number;
  fallback: boolean;
  /** Also the latent KV conversion at the same bytes. */
  latent: boolean;
  /** Only the rungs whose names match (the latent is named "latent"). */
  only?: RegExp;
  /** A quantised KV cache on top (src/model/kvQuant.ts): the original and every trained model are evaluated through it. */
  kvQuant?: KvQuant | null;
}

/** One conversion of one rung with one seed. */
export interface LadderRun {
  rung: string;
  seed: number;
  label: string;
  converted: number;
  trained: number;
  tokens: number;
  seconds: number;
}

export interface LadderRow {
  name: string;
  label: string;
  recipe: Recipe;
  change: string;
  why: string;
  converted: ReturnType<typeof spread>;
  trained: ReturnType<typeof spread>;
  /** Against the rung before (the latent: against the last rung): the difference of mean trained perplexities. */
  effect: ReturnType<typeof effect> | null;
  tokens: number;
}

export interface LadderResult {
  original: number;
  budget: number;
  seeds: number[];
  rungs: LadderRow[];
  latent: LadderRow | null;
  /** The quantised cache the original and the trained models were evaluated through (null: full precision). */
  kvQuant: KvQuant | null;
}

async function ppl(rt: GpuRuntime, model: Model, docs: number[][], signal?: AbortSignal, kvQuant: KvQuant | null = null): Promise<number> {
  const gm = await GpuModel.upload(rt, model);
  try {
    return (await perplexity(gm, docs, { signal, kvQuant })).ppl;
  } finally {
    gm.release();
  }
}

export async function runLadder(
  rt: GpuRuntime,
  model: Model,
  o: LadderOptions,
  hooks: LongWorkOptions & { onRun?: (r: LadderRun) => void | Promise<void> } = {},
): Promise<LadderResult> {
  const ctx = { training: !!o.train, fallback: o.fallback };
  const rungs = ladder(ctx, o.ownSteps).map((r) => ({
    ...r,
    recipe: { ...r.recipe, own: { ...r.recipe.own, tokensPerStep: o.ownTokensPerStep, seqLen: o.ownSeqLen } },
  }));
  const all: { name: string; change: string; why: string; recipe: Recipe }[] = [...rungs];
  if (o.latent) all.push({ name: 'latent', change: 'a latent KV cache of the same bytes (MLA)', why: 'every head stays distinct', recipe: latentBeside(ctx) });
  const kvQuant = quantises(o.kvQuant) ? o.kvQuant : null;
  const original = await ppl(rt, model, o.evalDocs, hooks.signal, kvQuant);
  const rows: LadderRow[] = [];
  for (const [i, r] of all.entries()) {
    if (o.only && !o.only.test(r.name)) continue;
    const runs: LadderRun[] = [];
    for (const seed of o.seeds) {
      const f = await fuse(
        rt,
        model,
        { recipe: r.recipe, budget: o.budget, seed, calibrationTokens: null, train: o.train },
        { calibration: o.calibration, evalDocs: o.train ? o.evalDocs : null },
        { signal: hooks.signal, onProgress: (p) => hooks.onProgress?.({ ...p, stage: `${r.name}, seed ${seed}: ${p.stage}` }) },
      );
      // through a quantised cache the trained model is evaluated again (the curve measured the full-precision cache)
      const last = kvQuant ? null : f.curve.at(-1)?.ppl;
      const trained = last ?? (await ppl(rt, f.model, o.evalDocs, hooks.signal, kvQuant));
      const converted = convertedPpl(f) ?? trained;
      const run: LadderRun = { rung: r.name, seed, label: f.label, converted, trained, tokens: f.trainTokens, seconds: f.seconds };
      runs.push(run);
      await hooks.onRun?.(run);
    }
    // A rung's effect is against the rung just below it (run here); the latent's against the last rung.
    const last = rows.at(-1) ?? null;
    const prev = r.name === 'latent' || last?.name === all[i - 1]?.name ? last : null;
    const trained = spread(runs.map((x) => x.trained));
    rows.push({
      name: r.name,
      label: runs[0].label,
      recipe: r.recipe,
      change: r.change,
      why: r.why,
      converted: spread(runs.map((x) => x.converted)),
      trained,
      effect: prev ? effect(prev.trained, trained) : null,
      tokens: runs[0].tokens,
    });
  }
  const latent = rows.find((r) => r.name === 'latent') ?? null;
  return { original, budget: o.budget, seeds: o.seeds, rungs: rows.filter((r) => r.name !== 'latent'), latent, kvQuant };
}
