// headlab train: continued end-to-end training of any checkpoint (fused or not) — distillation from a teacher, next-token
// cross-entropy or a mix — written back in the formats fusion exports. Also the parsing of the training flags that
// `fuse` takes with the prefix train-.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createNodeRuntime } from '../gpu/node';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles, type LoadedModel } from '../model/load';
import { exportFusedModel, modelHash, type ExportFile } from '../fusion/export';
import { train, TRAIN_LOSSES, type TrainLoss, type TrainOptions } from '../train/trainer';
import { TRAINABLE_SETS, type TrainableSet } from '../train/params';
import { describePlan } from '../train/plan';
import { UsageError, type ParsedArgs } from './args';
import { documentsFromArgs, int, num, str } from './model-commands';
import { progressPrinter } from './progress';

function choice<T extends string>(args: ParsedArgs, flag: string, allowed: readonly T[]): T | undefined {
  const v = str(args, flag);
  if (v !== undefined && !allowed.includes(v as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got ${v}`);
  return v as T | undefined;
}

function positive(args: ParsedArgs, flag: string): number | undefined {
  const n = int(args, flag);
  if (n === 0) throw new UsageError(`--${flag} must be at least 1`);
  return n;
}

function fraction(args: ParsedArgs, flag: string): number | undefined {
  if (str(args, flag) === undefined) return undefined;
  const v = num(args, flag, 0);
  if (v > 1) throw new UsageError(`--${flag} must be in [0, 1]; got ${v}`);
  return v;
}

/** Sequences per step on a CPU fallback adapter when none is asked for (32 on GPUs: the reference protocol). */
export const FALLBACK_TRAIN_BATCH = 8;

/**
 * The training settings given on the command line (prefix '' for `train`, 'train-' for `fuse`); only what was given, so the
 * core's defaults apply to the rest. On a CPU fallback adapter an unset batch shrinks, and `note` says so.
 */
export function trainOptionsFromArgs(
  args: ParsedArgs,
  prefix: '' | 'train-',
  adapter: { isFallbackAdapter: boolean; architecture: string },
  note: (s: string) => void,
): Partial<TrainOptions> {
  const f = (name: string) => `${prefix}${name}`;
  const o: Partial<TrainOptions> = {
    steps: int(args, f('steps')),
    lr: str(args, f('lr')) === undefined ? undefined : num(args, f('lr'), 0),
    params: choice<TrainableSet>(args, f('params'), TRAINABLE_SETS),
    loss: choice<TrainLoss>(args, f('loss'), TRAIN_LOSSES),
    klWeight: fraction(args, f('kl-weight')),
    batch: positive(args, f('batch')),
    seqLen: positive(args, f('seq')),
    schedule: choice(args, f('schedule'), ['constant', 'cosine'] as const),
    warmupSteps: int(args, f('warmup')),
    minLrFraction: fraction(args, f('min-lr')),
    weightDecay: str(args, f('weight-decay')) === undefined ? undefined : num(args, f('weight-decay'), 0),
    clip: str(args, f('clip')) === undefined ? undefined : num(args, f('clip'), 0),
    evalEvery: int(args, f('eval-every')),
  };
  if (o.seqLen === 1) throw new UsageError(`--${f('seq')} must be at least 2`);
  if (o.batch === undefined && adapter.isFallbackAdapter) {
    o.batch = FALLBACK_TRAIN_BATCH;
    note(`CPU fallback adapter (${adapter.architecture}): ${FALLBACK_TRAIN_BATCH} sequences per training step (32 on a GPU); --${f('batch')} sets it\n`);
  }
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<TrainOptions>;
}

/** The tokenizer files of a source, carried into every folder headlab writes so other commands can use it directly. */
export async function tokenizerFilesOf(files: Map<string, Blob>): Promise<ExportFile[]> {
  const out: ExportFile[] = [];
  for (const [name, blob] of files) {
    if (/^(tokenizer\.json|tokenizer_config\.json|tokenizer\.bin|tok\d+\.bin)$/.test(name)) out.push({ name, data: new Uint8Array(await blob.arrayBuffer()) });
  }
  return out;
}

/** The first `max` tokens of a list of documents (all of them without a limit). */
export function limitTokens(docs: number[][], max: number | undefined): number[][] {
  if (max === undefined) return docs;
  const out: number[][] = [];
  let n = 0;
  for (const d of docs) {
    if (n >= max) break;
    out.push(d.slice(0, max - n));
    n += Math.min(d.length, max - n);
  }
  return out;
}

export async function writeFolder(out: string, files: ExportFile[]): Promise<string[]> {
  await mkdir(out, { recursive: true });
  for (const f of files) await writeFile(path.join(out, f.name), f.data);
  return files.map((f) => f.name);
}

/**
 * headlab train <model> (--text F [split flags] | --tokens F) --steps N --out DIR [--teacher MODEL] [--eval-text F …]
 *   [--lr --params --loss --kl-weight --batch --seq --schedule --warmup --min-lr --weight-decay --clip --eval-every --seed] [--json]
 */
export async function trainCommand(args: ParsedArgs): Promise<number> {
  const out = str(args, 'out');
  if (!out) throw new UsageError('train needs --out DIR for the trained model');
  if (int(args, 'steps') === undefined) throw new UsageError('train needs --steps N');
  const json = args.flags.has('json');
  if (!args.positionals[0]) throw new UsageError('train needs a model: a file or a folder');
  const { files, name, primary } = await filesFromPath(args.positionals[0], { tokenizer: str(args, 'tokenizer') });
  const loaded = await loadModelFiles(files, { name, primary });
  const data = limitTokens((await documentsFromArgs(args, loaded, '')) ?? [], int(args, 'max-tokens'));
  if (!data.length) throw new UsageError('train needs training text: --text F or --tokens F.safetensors (with at least one document)');
  const evalDocs = await documentsFromArgs(args, loaded, 'eval-');
  const teacherPath = str(args, 'teacher');
  let teacher: LoadedModel | null = null;
  if (teacherPath) {
    const t = await filesFromPath(teacherPath);
    teacher = await loadModelFiles(t.files, { name: t.name, primary: t.primary });
  }
  const rt = await createNodeRuntime();
  const options = trainOptionsFromArgs(args, '', rt.summary, (s) => process.stderr.write(s));
  options.seed = int(args, 'seed', 1);
  options.loss ??= teacher ? 'kl' : 'ce';
  if (options.loss !== 'ce' && !teacher) throw new UsageError(`--loss ${options.loss} distils from a teacher: give --teacher MODEL, or use --loss ce`);
  const progress = progressPrinter();
  const r = await train(rt, loaded.model, data, options, { teacher: teacher?.model, evalDocs, onProgress: progress.onProgress });
  progress.done();
  const summary = {
    steps: r.steps,
    tokens: r.tokens,
    loss: options.loss,
    params: options.params ?? 'all',
    pplBefore: r.curve[0].ppl,
    pplAfter: r.curve.at(-1)!.ppl,
    evalTokens: evalDocs ? evalDocs.reduce((s, d) => s + d.length - 1, 0) : null,
    seconds: r.seconds,
    tokensPerSecond: r.tokensPerSecond,
    memory: r.plan.bytes,
    microBatch: r.plan.microBatch,
    curve: r.curve,
  };
  const experiment = {
    producer: 'headlab train',
    source: { name: loaded.name, modelHash: modelHash(loaded.model) },
    teacher: teacher ? { name: teacher.name, modelHash: modelHash(teacher.model) } : null,
    seed: options.seed,
    options,
    ...summary,
    adapter: rt.summary.description,
  };
  const written = await writeFolder(out, exportFusedModel(r.model, { tokenizerFiles: await tokenizerFilesOf(files), experiment }));
  if (json) process.stdout.write(`${JSON.stringify({ ...summary, out, files: written })}\n`);
  else {
    const ppl = summary.pplBefore !== null ? `; perplexity ${summary.pplBefore.toFixed(3)} → ${summary.pplAfter!.toFixed(3)}` : '';
    process.stdout.write(
      `trained ${r.steps} steps (${r.tokens} tokens, ${r.tokensPerSecond.toFixed(0)} tokens/s; ${describePlan(r.plan)})${ppl}; wrote ${written.join(', ')} to ${out}\n`,
    );
  }
  return 0;
}
