// headlab ladder: the ladder from mean-pool to DHA (src/fusion/ladder.ts), one change per rung, every rung converted and
// trained on the same tokens for each of K seeds; prints the table (or --json), progress on stderr, and with --jsonl FILE
// appends each finished run as it comes (a long measurement keeps what it measured).
import { appendFile } from 'node:fs/promises';
import { createNodeRuntime } from '../gpu/node';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles } from '../model/load';
import { runLadder, type LadderRow } from '../fusion/ladderRun';
import { defaultOwnSteps, OWN_STEP_DEFAULTS, OWN_STEP_FALLBACK_DEFAULTS } from '../fusion/recipe';
import { UsageError, type ParsedArgs } from './args';
import { documentsFromArgs, int, kvQuantFromArgs, str } from './model-commands';
import { kvQuantLabel } from '../model/kvQuant';
import { limitTokens, trainOptionsFromArgs } from './train-command';
import { progressPrinter } from './progress';

const f3 = (x: number) => x.toFixed(3);

/** One table line per rung: the change, converted and trained perplexity (mean [min, max] over the seeds), the effect. */
export function ladderTable(rows: LadderRow[], seeds: number): string {
  const head = `${'rung'.padEnd(22)} ${'converted'.padStart(10)}  ${`trained (${seeds} seed${seeds === 1 ? '' : 's'}: mean [min, max])`.padEnd(34)} effect of the change`;
  const lines = rows.map((r) => {
    const t = r.trained;
    const range = t.values.length > 1 ? `${f3(t.mean)} [${f3(t.min)}, ${f3(t.max)}]` : `${f3(t.mean)} (one seed)`;
    const e = !r.effect
      ? ''
      : r.effect.measurable
        ? `${r.effect.delta > 0 ? '+' : ''}${f3(r.effect.delta)}`
        : `no measurable difference (${r.effect.delta > 0 ? '+' : ''}${f3(r.effect.delta)})`;
    return `${r.name.padEnd(22)} ${f3(r.converted.mean).padStart(10)}  ${range.padEnd(34)} ${e}`;
  });
  return [head, ...lines].join('\n');
}

/**
 * headlab ladder <model> --kv-budget F (--text F [split flags] | --tokens F) (--eval-text F … | --eval-tokens F) [--seeds K]
 *   [--seed S] [--own-steps N] [--train-* flags] [--only REGEX] [--no-latent] [--max-tokens N] [--jsonl FILE] [--json]
 */
export async function ladderCommand(args: ParsedArgs): Promise<number> {
  const target = args.positionals[0];
  if (!target) throw new UsageError('ladder needs a model: a file or a folder');
  const budgetText = str(args, 'kv-budget');
  const budget = Number(budgetText);
  if (!budgetText || !(budget > 0 && budget <= 1)) throw new UsageError(`--kv-budget must be a fraction in (0, 1]; got ${budgetText ?? 'nothing'}`);
  const { files, name, primary } = await filesFromPath(target, { tokenizer: str(args, 'tokenizer') });
  const loaded = await loadModelFiles(files, { name, primary });
  const calibration = limitTokens((await documentsFromArgs(args, loaded, '')) ?? [], int(args, 'max-tokens'));
  if (!calibration.length) throw new UsageError('ladder calibrates and trains on a text: give --text F or --tokens F.safetensors');
  const evalDocs = await documentsFromArgs(args, loaded, 'eval-');
  if (!evalDocs?.length) throw new UsageError('ladder measures held-out perplexity: give --eval-text F or --eval-tokens F.safetensors');
  const K = int(args, 'seeds', 1)!;
  if (K < 1) throw new UsageError('--seeds must be at least 1');
  const first = int(args, 'seed', 1)!;
  const only = str(args, 'only');
  const kvQuant = kvQuantFromArgs(args);
  const rt = await createNodeRuntime();
  const fallback = rt.summary.isFallbackAdapter;
  const trainOptions = trainOptionsFromArgs(args, 'train-', rt.summary, (s) => process.stderr.write(s));
  const train = trainOptions.steps ? { ...trainOptions, steps: trainOptions.steps } : null;
  // The last rung's own steps see as many tokens as a training step (so they count in the same unit), a quarter of the budget
  // by default; without training, DHA's defaults.
  const batch = train?.batch ?? 32;
  const seq = Math.min(train?.seqLen ?? 128, loaded.model.config.contextLength);
  const ownSteps = int(args, 'own-steps', train ? Math.max(1, Math.floor(train.steps / 4)) : defaultOwnSteps('dha', { training: false, fallback }))!;
  const own = train ? { tokensPerStep: batch * seq, seqLen: seq } : fallback ? OWN_STEP_FALLBACK_DEFAULTS : OWN_STEP_DEFAULTS;
  const jsonl = str(args, 'jsonl');
  const progress = progressPrinter();
  const r = await runLadder(
    rt,
    loaded.model,
    {
      budget,
      seeds: Array.from({ length: K }, (_, i) => first + i),
      calibration,
      evalDocs,
      train,
      ownSteps,
      ownTokensPerStep: own.tokensPerStep,
      ownSeqLen: own.seqLen,
      fallback,
      latent: !args.flags.has('no-latent'),
      only: only ? new RegExp(only) : undefined,
      kvQuant,
    },
    {
      onProgress: progress.onProgress,
      onRun: async (run) => {
        progress.done();
        process.stderr.write(
          `${run.rung}, seed ${run.seed}: ${f3(run.converted)} → ${f3(run.trained)} at ${run.tokens} tokens (${run.seconds.toFixed(0)} s)\n`,
        );
        if (jsonl) await appendFile(jsonl, `${JSON.stringify({ model: loaded.name, budget, ...run })}\n`);
      },
    },
  );
  progress.done();
  if (args.flags.has('json')) process.stdout.write(`${JSON.stringify({ model: loaded.name, ...r })}\n`);
  else {
    process.stdout.write(
      `${loaded.name} at ${(budget * 100).toFixed(1)} %: original ${f3(r.original)}; ${r.rungs[0]?.tokens ?? 0} training tokens per run` +
        (kvQuant ? `; original and trained through a ${kvQuantLabel(kvQuant)} (converted: the full-precision cache)` : '') +
        '\n',
    );
    process.stdout.write(`${ladderTable([...r.rungs, ...(r.latent ? [r.latent] : [])], K)}\n`);
  }
  return 0;
}
