// headlab fuse: convert a model's K/V cache into a smaller one — fewer K/V heads (mean-pool, aligned merge, DHA) or a
// latent (MLA) — evaluate before and after, and write the converted model (loadable by every other command) with the
// experiment record.
import { createNodeRuntime } from '../gpu/node';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles } from '../model/load';
import { GpuModel } from '../eval/gpuModel';
import { perplexity } from '../eval/perplexity';
import { kvBytesPerToken } from '../model/heads';
import { fuse, FUSION_METHODS, type FusionMethod } from '../fusion/fuse';
import { exportFusedModel, modelHash } from '../fusion/export';
import { LATENT_INITS, MLA_DEFAULTS, ROPE_SELECTS } from '../fusion/mla';
import { DHA_ALLOCATIONS, DHA_DEFAULTS, DHA_FALLBACK_DEFAULTS, DHA_KV_SPLITS, DHA_OWN_STEPS_WITH_TRAINING } from '../fusion/dha';
import { UsageError, type ParsedArgs } from './args';
import { documentsFromArgs, int, num, str } from './model-commands';
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

async function ppl(rt: GpuRuntime, model: Model, docs: number[][] | null, label: string) {
  if (!docs) return null;
  const gm = await GpuModel.upload(rt, model);
  const progress = progressPrinter(`${label}: `);
  try {
    return (await perplexity(gm, docs, { onProgress: progress.onProgress })).ppl;
  } finally {
    progress.done();
    gm.release();
  }
}

/**
 * headlab fuse <model> --method meanpool|aligned|dha|mla --kv-budget F (--text F [split flags] | --tokens F.safetensors)
 *   [--eval-text F [--eval-split …] | --eval-tokens F] [--steps N] [--seed S] [DHA flags] [--train-* flags] --out DIR [--json]
 */
export async function fuseCommand(args: ParsedArgs): Promise<number> {
  const target = args.positionals[0];
  if (!target) throw new UsageError('fuse needs a model: a file or a folder');
  const method = str(args, 'method') as FusionMethod | undefined;
  if (!method || !FUSION_METHODS.includes(method)) throw new UsageError(`--method must be one of ${FUSION_METHODS.join(', ')}`);
  const budgetText = str(args, 'kv-budget');
  const budget = Number(budgetText);
  if (!budgetText || !(budget > 0 && budget <= 1))
    throw new UsageError(`--kv-budget must be a fraction in (0, 1], e.g. 0.5 or 0.25; got ${budgetText ?? 'nothing'}`);
  const out = str(args, 'out');
  if (!out) throw new UsageError('fuse needs --out DIR for the fused model');
  const json = args.flags.has('json');
  if (args.flags.has('renorm') && args.flags.has('no-renorm')) throw new UsageError('--renorm and --no-renorm contradict each other');
  // The aligned merge renormalises by default (as DHA's merge does); --renorm is kept as a no-op for older commands.
  const renormalise = !args.flags.has('no-renorm');
  const { files, name, primary } = await filesFromPath(target, { tokenizer: str(args, 'tokenizer') });
  const loaded = await loadModelFiles(files, { name, primary });
  const calibration = (await documentsFromArgs(args, loaded, '')) ?? [];
  if (method !== 'meanpool' && !calibration.length) throw new UsageError(`--method ${method} needs calibration text: --text F or --tokens F.safetensors`);
  const calib = limitTokens(calibration, int(args, 'max-tokens'));
  const evalDocs = await documentsFromArgs(args, loaded, 'eval-');
  const rt = await createNodeRuntime();
  // On a CPU fallback adapter (SwiftShader) DHA's defaults shrink to the page's, and the command says so.
  const fallback = rt.summary.isFallbackAdapter;
  const dhaDefaults = fallback ? { ...DHA_DEFAULTS, ...DHA_FALLBACK_DEFAULTS } : DHA_DEFAULTS;
  if (method === 'dha' && fallback && ['steps', 'tokens-per-step', 'seq-len'].some((f) => !args.flags.has(f))) {
    process.stderr.write(
      `CPU fallback adapter (${rt.summary.architecture}): DHA defaults to ${dhaDefaults.steps} steps of ${dhaDefaults.tokensPerStep} tokens in sequences of ${dhaDefaults.seqLen} ` +
        `(${DHA_DEFAULTS.steps} × ${DHA_DEFAULTS.tokensPerStep} in ${DHA_DEFAULTS.seqLen} on a GPU); --steps, --tokens-per-step and --seq-len set them\n`,
    );
  }
  const trainOptions = trainOptionsFromArgs(args, 'train-', rt, (s) => process.stderr.write(s));
  if (trainOptions.steps && !calib.length) throw new UsageError('--train-steps trains on the calibration text: give --text F or --tokens F.safetensors');
  // When end-to-end training follows, DHA's own layer-local steps come out of the same token budget; measured at equal
  // tokens they did not pay (docs/RESULTS.md, "Equal training tokens"), so by default every token goes end to end.
  const ownSteps = trainOptions.steps && !args.flags.has('steps') ? DHA_OWN_STEPS_WITH_TRAINING : int(args, 'steps', dhaDefaults.steps);
  if (method === 'dha' && trainOptions.steps && !args.flags.has('steps')) {
    process.stderr.write(`DHA with --train-steps: ${ownSteps} own layer-local steps by default (they come out of the shared budget); --steps N sets them\n`);
  }
  const mla = {
    ropeSelect: oneOf(args, 'rope-select', ROPE_SELECTS, MLA_DEFAULTS.ropeSelect),
    latentInit: oneOf(args, 'latent-init', LATENT_INITS, MLA_DEFAULTS.latentInit),
    ropePairs: int(args, 'rope-pairs'),
  };
  const before = await ppl(rt, loaded.model, evalDocs, 'perplexity before');
  const seed = int(args, 'seed', DHA_DEFAULTS.seed)!;
  trainOptions.seed = seed;
  const progress = progressPrinter();
  const r = await fuse(rt, loaded.model, {
    method,
    budget,
    calibration: calib,
    renormalise,
    dha: {
      steps: ownSteps,
      seed,
      tokensPerStep: int(args, 'tokens-per-step', dhaDefaults.tokensPerStep),
      seqLen: int(args, 'seq-len', dhaDefaults.seqLen),
      lr: num(args, 'lr', DHA_DEFAULTS.lr),
      params: oneOf(args, 'fusion-params', ['kv', 'attention'] as const, DHA_DEFAULTS.params),
      inputs: oneOf(args, 'fusion-inputs', ['teacher', 'student'] as const, DHA_DEFAULTS.inputs),
      checkEvery: int(args, 'check-every', DHA_DEFAULTS.checkEvery),
      allocation: oneOf(args, 'allocation', DHA_ALLOCATIONS, DHA_DEFAULTS.allocation),
      kvSplit: oneOf(args, 'kv-split', DHA_KV_SPLITS, DHA_DEFAULTS.kvSplit),
    },
    mla,
    train: trainOptions.steps ? trainOptions : undefined,
    evalDocs,
    onProgress: progress.onProgress,
  });
  progress.done();
  // With recovery training, the curve's last point already measured the final model on the same documents.
  const after = r.curve.length ? r.curve.at(-1)!.ppl : await ppl(rt, r.model, evalDocs, 'perplexity after');
  const tokenizerFiles = await tokenizerFilesOf(files);
  const summary = {
    method,
    budget,
    ...(method === 'aligned' ? { renormalise } : {}),
    ...(method === 'mla' ? { ropeSelect: mla.ropeSelect, latentInit: mla.latentInit, latent: r.mla } : {}),
    ...(method === 'dha' ? { allocation: str(args, 'allocation') ?? DHA_DEFAULTS.allocation, kvSplit: str(args, 'kv-split') ?? DHA_DEFAULTS.kvSplit } : {}),
    perLayer: r.perLayer,
    kTotal: r.perLayer.reduce((a, p) => a + p.k, 0),
    vTotal: r.perLayer.reduce((a, p) => a + p.v, 0),
    pplBefore: before,
    pplAfter: after,
    kvBytesPerTokenBefore: kvBytesPerToken(loaded.model),
    kvBytesPerToken: r.kvBytesPerToken,
    calibrationTokens: r.calibrationTokens,
    evalTokens: evalDocs ? evalDocs.reduce((s, d) => s + d.length - 1, 0) : null,
    trainSteps: r.trainSteps,
    trainTokens: r.trainTokens,
    recoverySteps: r.recoverySteps,
    seconds: r.seconds,
    curve: r.curve,
    dha: r.dha ? { bestStep: r.dha.bestStep, checks: r.dha.checks } : undefined,
  };
  const experiment = {
    producer: 'headlab fuse',
    source: { name: loaded.name, modelHash: modelHash(loaded.model) },
    seed,
    train: trainOptions.steps ? trainOptions : null,
    ...summary,
    maps: r.model.layers.map((l) => ({ kHeadOf: l.kv.kHeadOf, vHeadOf: l.kv.vHeadOf })),
    adapter: rt.summary.description,
  };
  const written = await writeFolder(out, exportFusedModel(r.model, { tokenizerFiles, experiment }));
  if (json) process.stdout.write(`${JSON.stringify({ ...summary, out, files: written })}\n`);
  else {
    const shape = r.mla
      ? `per layer a latent of ${r.mla.map((l) => l.rank).join('/')} values + ${r.mla.map((l, i) => 2 * l.ropePairs * r.perLayer[i].k).join('/')} rotary key dims (${mla.ropeSelect} pairs, ${mla.latentInit} init)`
      : `K/V heads per layer ${r.perLayer.map((p) => `${p.k}/${p.v}`).join(' ')} (K ${summary.kTotal}, V ${summary.vTotal})`;
    process.stdout.write(
      `${method}${method === 'aligned' ? (renormalise ? ' + renormalisation' : ' without renormalisation') : ''} at ${(budget * 100).toFixed(1)} %: ${shape}; ` +
        `KV cache ${summary.kvBytesPerTokenBefore} → ${r.kvBytesPerToken} bytes/token` +
        (before !== null ? `; perplexity ${before.toFixed(3)} → ${after!.toFixed(3)}` : '') +
        `; ${r.seconds.toFixed(1)} s; wrote ${written.join(', ')} to ${out}\n`,
    );
  }
  return 0;
}
