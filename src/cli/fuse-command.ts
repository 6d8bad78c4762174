// headlab fuse: convert a model's K/V cache into a smaller one — fewer K/V heads (a head-sharing recipe: mean-pool, the
// aligned merge, DHA, or any of their choices changed) or a latent (MLA) — evaluate before and after, and write the
// converted model (loadable by every other command) with the run's record.
import { createNodeRuntime } from '../gpu/node';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles } from '../model/load';
import { GpuModel } from '../eval/gpuModel';
import { perplexity } from '../eval/perplexity';
import { fuse } from '../fusion/fuse';
import { exportFusedModel } from '../fusion/export';
import { fusionRecord, kvCacheRecord } from '../fusion/record';
import { LATENT_INITS, ROPE_SELECTS } from '../fusion/mlaDefaults';
import {
  FUSION_METHODS,
  HEAD_CHOICES,
  OWN_STEP_DEFAULTS,
  presetRecipe,
  readsCalibration,
  recipeLabel,
  recipeProblem,
  type FusionMethod,
  type HeadRecipe,
  type Recipe,
  type RunConfig,
} from '../fusion/recipe';
import { UsageError, type ParsedArgs } from './args';
import { documentsFromArgs, int, kvCacheLine, kvQuantFromArgs, num, str } from './model-commands';
import type { KvQuant } from '../model/kvQuant';
import { limitTokens, tokenizerFilesOf, trainOptionsFromArgs, writeFolder } from './train-command';
import { progressPrinter } from './progress';
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';

function oneOf<T extends string>(args: ParsedArgs, flag: string, allowed: readonly T[], fallback: T): T {
  const v = str(args, flag);
  if (v === undefined) return fallback;
  if (!allowed.includes(v as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got ${v}`);
  return v as T;
}

async function ppl(rt: GpuRuntime, model: Model, docs: number[][] | null, label: string, kvQuant: KvQuant | null = null) {
  if (!docs) return null;
  const gm = await GpuModel.upload(rt, model);
  const progress = progressPrinter(`${label}: `);
  try {
    return await perplexity(gm, docs, { onProgress: progress.onProgress, kvQuant });
  } finally {
    progress.done();
    gm.release();
  }
}

/** The flags of a head-sharing recipe's choices, in the table's order: --grouping, --align, --renorm, … */
export const RECIPE_FLAGS = HEAD_CHOICES.map((c) => c.flag);
/** Flags of the own steps and of the latent. */
const OWN_FLAGS = ['steps', 'tokens-per-step', 'seq-len', 'lr', 'fusion-params', 'fusion-inputs', 'check-every', 'fusion-trains', 'operator-lr'];
const LATENT_FLAGS = ['rope-select', 'latent-init', 'rope-pairs'];

/**
 * The run configuration the flags give: `--method PRESET` (its recipe, with the defaults of the adapter and of whether
 * training follows), each recipe choice's flag on top, the own steps' and the latent's flags, the seed and the training.
 * Flags that the method does not read are refused, so that no flag is silently ignored.
 */
export function runConfigFromArgs(
  args: ParsedArgs,
  adapter: { isFallbackAdapter: boolean; architecture: string },
  note: (s: string) => void = () => {},
): RunConfig {
  const method = str(args, 'method') as FusionMethod | undefined;
  if (!method || !FUSION_METHODS.includes(method)) throw new UsageError(`--method must be one of ${FUSION_METHODS.join(', ')}`);
  const budgetText = str(args, 'kv-budget');
  const budget = Number(budgetText);
  if (!budgetText || !(budget > 0 && budget <= 1))
    throw new UsageError(`--kv-budget must be a fraction in (0, 1], e.g. 0.5 or 0.25; got ${budgetText ?? 'nothing'}`);
  const fallback = adapter.isFallbackAdapter;
  const trainOptions = trainOptionsFromArgs(args, 'train-', adapter, note);
  const training = !!trainOptions.steps;
  const base = presetRecipe(method, { training, fallback });
  const given = (flags: string[]) => flags.filter((f) => args.flags.has(f)).map((f) => `--${f}`);
  let recipe: Recipe;
  if (base.family === 'latent') {
    const wrong = given([...RECIPE_FLAGS, ...OWN_FLAGS, 'no-renorm']);
    if (wrong.length)
      throw new UsageError(
        `${wrong.join(', ')} ${wrong.length > 1 ? 'are' : 'is'} for head-sharing recipes; --method mla takes ${LATENT_FLAGS.map((f) => `--${f}`).join(', ')}`,
      );
    const ropePairs = int(args, 'rope-pairs');
    recipe = {
      ...base,
      ropeSelect: oneOf(args, 'rope-select', ROPE_SELECTS, base.ropeSelect),
      latentInit: oneOf(args, 'latent-init', LATENT_INITS, base.latentInit),
      ...(ropePairs === undefined ? {} : { ropePairs }),
    };
  } else {
    const wrong = given(LATENT_FLAGS);
    if (wrong.length) throw new UsageError(`${wrong.join(', ')} ${wrong.length > 1 ? 'are' : 'is'} for --method mla`);
    if (args.flags.has('renorm') && args.flags.has('no-renorm')) throw new UsageError('--renorm and --no-renorm contradict each other');
    const r: HeadRecipe = { ...base, own: { ...base.own } };
    for (const c of HEAD_CHOICES) (r as unknown as Record<string, string>)[c.key] = oneOf(args, c.flag, c.values, r[c.key]);
    if (args.flags.has('no-renorm')) r.renormalise = 'off';
    r.ownSteps = int(args, 'steps', r.ownSteps)!;
    r.own = {
      tokensPerStep: int(args, 'tokens-per-step', r.own.tokensPerStep)!,
      seqLen: int(args, 'seq-len', r.own.seqLen)!,
      lr: num(args, 'lr', OWN_STEP_DEFAULTS.lr),
      params: oneOf(args, 'fusion-params', ['kv', 'attention'] as const, r.own.params),
      inputs: oneOf(args, 'fusion-inputs', ['teacher', 'student'] as const, r.own.inputs),
      checkEvery: int(args, 'check-every', r.own.checkEvery)!,
      fusionTrains: oneOf(args, 'fusion-trains', ['operators', 'all'] as const, r.own.fusionTrains),
      operatorLr: num(args, 'operator-lr', r.own.operatorLr),
    };
    const wrongKind = r.fusion === 'progressive' ? given(['fusion-params', 'fusion-inputs', 'check-every']) : given(['fusion-trains', 'operator-lr']);
    if (wrongKind.length)
      throw new UsageError(
        `${wrongKind.join(', ')} ${wrongKind.length > 1 ? 'are' : 'is'} for ${r.fusion === 'progressive' ? 'layer-local own steps (--fusion merge)' : '--fusion progressive'}`,
      );
    if (r.preset === 'dha' && !args.flags.has('steps'))
      note(
        training
          ? `DHA with --train-steps: ${r.ownSteps} own layer-local steps by default (they come out of the shared budget); --steps N sets them\n`
          : fallback && ['tokens-per-step', 'seq-len'].some((f) => !args.flags.has(f))
            ? `CPU fallback adapter (${adapter.architecture}): DHA defaults to ${r.ownSteps} steps of ${r.own.tokensPerStep} tokens in sequences of ${r.own.seqLen} ` +
              `(100 × ${OWN_STEP_DEFAULTS.tokensPerStep} in ${OWN_STEP_DEFAULTS.seqLen} on a GPU); --steps, --tokens-per-step and --seq-len set them\n`
            : '',
      );
    recipe = r;
  }
  const seed = int(args, 'seed', 1)!;
  return {
    recipe,
    budget,
    seed,
    calibrationTokens: int(args, 'max-tokens') ?? null,
    train: training ? { ...trainOptions, steps: trainOptions.steps! } : null,
  };
}

/**
 * headlab fuse <model> --method meanpool|aligned|dha|mla [recipe flags] --kv-budget F (--text F [split flags] | --tokens F)
 *   [--eval-text F [--eval-split …] | --eval-tokens F] [--steps N] [--seed S] [own-step flags] [--train-* flags] --out DIR [--json]
 */
export async function fuseCommand(args: ParsedArgs): Promise<number> {
  const target = args.positionals[0];
  if (!target) throw new UsageError('fuse needs a model: a file or a folder');
  const out = str(args, 'out');
  if (!out) throw new UsageError('fuse needs --out DIR for the fused model');
  const json = args.flags.has('json');
  const { files, name, primary } = await filesFromPath(target, { tokenizer: str(args, 'tokenizer') });
  const loaded = await loadModelFiles(files, { name, primary });
  const rt = await createNodeRuntime();
  const config = runConfigFromArgs(args, rt.summary, (s) => process.stderr.write(s));
  const problem =
    config.recipe.family === 'heads'
      ? recipeProblem(
          config.recipe,
          loaded.model.layers.map((l) => l.kv),
          config.budget,
        )
      : null;
  if (problem) throw new UsageError(`${recipeLabel(config.recipe)} at ${config.budget}: ${problem}`);
  const calibration = (await documentsFromArgs(args, loaded, '')) ?? [];
  if ((readsCalibration(config.recipe) || config.train) && !calibration.length)
    throw new UsageError(
      config.train
        ? '--train-steps trains on the calibration text: give --text F or --tokens F.safetensors'
        : `--method ${config.recipe.preset} (${recipeLabel(config.recipe)}) needs calibration text: --text F or --tokens F.safetensors`,
    );
  const calib = limitTokens(calibration, config.calibrationTokens ?? undefined);
  const evalDocs = await documentsFromArgs(args, loaded, 'eval-');
  const kvQuant = kvQuantFromArgs(args);
  const before = await ppl(rt, loaded.model, evalDocs, 'perplexity before');
  const progress = progressPrinter();
  const r = await fuse(rt, loaded.model, config, { calibration: calib, evalDocs }, { onProgress: progress.onProgress });
  progress.done();
  // With recovery training, the curve's last point already measured the final model on the same documents.
  const after = r.curve.length ? r.curve.at(-1)!.ppl : ((await ppl(rt, r.model, evalDocs, 'perplexity after'))?.ppl ?? null);
  // A quantised cache on top: the original and the converted model evaluated through it, bytes at the longest held-out text
  const context = Math.min(loaded.model.config.contextLength, Math.max(1, ...(evalDocs ?? calib).map((d) => d.length)));
  const kvCache = kvQuant
    ? kvCacheRecord(loaded.model, r.model, kvQuant, context, {
        before: (await ppl(rt, loaded.model, evalDocs, 'perplexity before, quantised cache', kvQuant))?.ppl ?? null,
        after: (await ppl(rt, r.model, evalDocs, 'perplexity after, quantised cache', kvQuant))?.ppl ?? null,
      })
    : null;
  const record = fusionRecord({
    kvCache,
    producer: 'headlab fuse',
    sourceName: loaded.name,
    original: loaded.model,
    config,
    result: r,
    before: before?.ppl ?? null,
    after,
    evaluation: before && evalDocs ? { tokens: before.tokens, documents: before.documents, text: evalText(args) } : null,
    calibrationText: calibText(args),
    adapter: rt.summary.description,
  });
  const written = await writeFolder(out, exportFusedModel(r.model, { tokenizerFiles: await tokenizerFilesOf(files), experiment: record }));
  if (json) process.stdout.write(`${JSON.stringify({ ...record, out, files: written })}\n`);
  else {
    const shape = r.mla
      ? `per layer a latent of ${r.mla.map((l) => l.rank).join('/')} values + ${r.mla.map((l, i) => 2 * l.ropePairs * r.perLayer[i].k).join('/')} rotary key dims`
      : `K/V heads per layer ${r.perLayer.map((p) => `${p.k}/${p.v}`).join(' ')} (K ${record.kTotal}, V ${record.vTotal})`;
    process.stdout.write(
      `${record.label} at ${(config.budget * 100).toFixed(1)} %: ${shape}; ` +
        `KV cache ${record.kvBytesPerTokenBefore} → ${r.kvBytesPerToken} bytes/token` +
        (before !== null && after !== null ? `; perplexity ${before.ppl.toFixed(3)} → ${after.toFixed(3)}` : '') +
        `; ${r.seconds.toFixed(1)} s; wrote ${written.join(', ')} to ${out}\n`,
    );
    if (kvCache)
      process.stdout.write(
        `${kvCacheLine(r.model, kvQuant, context)}` +
          (kvCache.pplBefore !== null && kvCache.pplAfter !== null
            ? `; perplexity through it ${kvCache.pplBefore.toFixed(3)} → ${kvCache.pplAfter.toFixed(3)}`
            : '') +
          '\n',
      );
  }
  return 0;
}

/** The texts as the flags name them, for the record. */
function calibText(args: ParsedArgs): string | null {
  const t = str(args, 'text') ?? str(args, 'tokens');
  return t
    ? [t, ...['split', 'min-chars', 'skip-docs', 'max-docs', 'max-tokens'].filter((f) => args.flags.has(f)).map((f) => `--${f} ${str(args, f)}`)].join(' ')
    : null;
}
function evalText(args: ParsedArgs): string {
  const t = str(args, 'eval-text') ?? str(args, 'eval-tokens') ?? '';
  return [t, ...['eval-split', 'eval-min-chars', 'eval-skip-docs', 'eval-max-docs'].filter((f) => args.flags.has(f)).map((f) => `--${f} ${str(args, f)}`)].join(
    ' ',
  );
}
