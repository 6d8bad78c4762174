// headlab bench: matmul per size, attention per sequence length, forward and training tokens/s per model, DHA search seconds. A benchmark, never a test.
import { createNodeRuntime } from '../gpu/node';
import { benchMatmul } from '../bench/matmul';
import { benchForward, gpt2SmallShaped } from '../bench/forward';
import { benchTrain } from '../bench/train';
import { benchSearch } from '../bench/search';
import { benchAttention } from '../bench/attention';
import type { AttentionVariant } from '../gpu/kernels/transformer';
import { splitDocuments, tokenizeDocuments } from '../eval/perplexity';
import { readFile } from 'node:fs/promises';
import { randomArray } from '../reference/linalg';
import { ModelFormatError } from '../model/errors';
import { MATMUL_VARIANTS, matmulVariantFor, type MatmulVariant } from '../gpu/kernels/matmul';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles } from '../model/load';
import type { Model } from '../model/types';
import type { Tokenizer } from '../model/tokenizer';
import { formatBytes } from '../format';
import { intList, UsageError, type ParsedArgs } from './args';

export function adapterName(s: { vendor: string; architecture: string; device: string; description: string }): string {
  return [s.vendor, s.architecture, s.device || s.description].filter((x) => x && x !== 'unknown').join(' / ');
}

async function modelOf(spec: string): Promise<{ name: string; model: Model; tokenizer?: Tokenizer }> {
  if (spec === 'gpt2-small') return { name: 'gpt2-small (random weights)', model: gpt2SmallShaped() };
  const { files, name, primary } = await filesFromPath(spec);
  const loaded = await loadModelFiles(files, { name, primary });
  return { name: spec.split('/').pop()!, model: loaded.model, tokenizer: loaded.tokenizer ?? undefined };
}

/**
 * Calibration text of the search bench: with --text F its paragraphs (blank lines) longer than 100 characters after the
 * first 150, at most 400 (DHA's protocol in docs/RESULTS.md; 100 on a CPU fallback adapter); without, 8 sequences of 128 seeded random tokens (a quick
 * check: the search's work does not depend on the text, its convergence a little).
 */
async function searchSequences(args: ParsedArgs, model: Model, tokenizer: Tokenizer | undefined, spec: string, maxDocs: number): Promise<number[][]> {
  const T = model.config.contextLength;
  const textPath = args.flags.get('text');
  if (typeof textPath !== 'string') {
    const n = Math.min(T, 128);
    const ids = randomArray(8 * n, 5, 0, model.config.vocab);
    return Array.from({ length: 8 }, (_, i) => Array.from(ids.subarray(i * n, (i + 1) * n), (v) => Math.min(model.config.vocab - 1, Math.floor(v))));
  }
  if (!tokenizer) throw new UsageError(`${spec} has no tokenizer beside it: --text needs one`);
  const text = await readFile(textPath, 'utf8').catch(() => {
    throw new ModelFormatError(textPath, 'no such file');
  });
  return tokenizeDocuments(splitDocuments(text, { split: 'blank-lines', minChars: 100, skipDocs: 150, maxDocs }), tokenizer, T);
}

function list(args: ParsedArgs, flag: string): string[] {
  const v = args.flags.get(flag);
  if (v === true) throw new UsageError(`--${flag} needs a list of models, e.g. stories260K.bin,gpt2-small`);
  return v ? v.split(',').filter(Boolean) : [];
}

/**
 * What a bench measures when its flags do not say. On a GPU: the figures of docs/BENCHMARKS.md. On a CPU fallback adapter
 * (SwiftShader) those take over ten minutes, so every default shrinks to what finishes in a few: the run says so.
 */
export function benchDefaults(fallback: boolean) {
  return fallback
    ? {
        sizes: [256, 512],
        forwardBatch: 4,
        forwardSeq: 128,
        trainBatch: 4,
        trainSeq: 64,
        steps: 2,
        attentionBatch: 1,
        attention: [128, 256],
        searchDocs: 50,
        gpt2: { batch: 1, seq: 32 },
      }
    : {
        sizes: [256, 1024, 2048],
        forwardBatch: 8,
        forwardSeq: 256,
        trainBatch: 32,
        trainSeq: 128,
        steps: 3,
        attentionBatch: 8,
        attention: [128, 512, 1024],
        searchDocs: 400,
        gpt2: null,
      };
}

export async function benchCommand(args: ParsedArgs): Promise<number> {
  const json = args.flags.has('json');
  const say = (s: string) => !json && process.stdout.write(`${s}\n`);
  // Progress goes to stderr in every mode (--json keeps stdout for the one JSON line).
  const progress = (s: string) => process.stderr.write(`[bench] ${s}\n`);
  const given = (flag: string) => args.flags.has(flag);
  const variantFlag = args.flags.get('variant');
  if (variantFlag !== undefined && !MATMUL_VARIANTS.includes(variantFlag as MatmulVariant))
    throw new UsageError(`--variant must be one of ${MATMUL_VARIANTS.join(', ')}; got ${variantFlag}`);
  const budget = given('budget') ? Number(args.flags.get('budget')) : 0.25;
  if (!(budget > 0 && budget <= 1)) throw new UsageError('--budget must be a fraction in (0, 1], e.g. 0.25');
  // Every list flag is checked before the adapter is asked for, so that a typo fails at once with one line.
  for (const flag of ['sizes', 'batch', 'seq', 'steps', 'attention']) {
    const v = args.flags.get(flag);
    if (v !== undefined && !(flag === 'attention' && v === 'default')) intList(v, [], flag);
  }
  const rt = await createNodeRuntime();
  // --variant forces the matmul kernel of every product in the run (forward and training too); without it each size takes
  // the adapter's choice for its shape.
  if (variantFlag !== undefined) rt.options.matmul = variantFlag as MatmulVariant;
  const adapter = adapterName(rt.summary);
  const fallback = rt.summary.isFallbackAdapter;
  const d = benchDefaults(fallback);
  say(`adapter: ${adapter}`);
  progress(`adapter: ${adapter}`);
  if (fallback) {
    progress(
      `a CPU fallback adapter: smaller defaults so that the run takes minutes (matmul ${d.sizes.join(', ')}; forward ${d.forwardBatch}×${d.forwardSeq}; ` +
        `training ${d.trainBatch}×${d.trainSeq}, ${d.steps} steps; attention ${d.attention.join(', ')}; search on ${d.searchDocs} paragraphs; ` +
        `GPT-2-small's shapes at ${d.gpt2!.batch}×${d.gpt2!.seq}). --sizes, --batch, --seq, --steps, --attention choose.`,
    );
  }
  const sizes = intList(args.flags.get('sizes'), d.sizes, 'sizes');
  const matmul = [];
  for (const n of sizes) {
    progress(`matmul ${n}³ …`);
    const row = await benchMatmul(rt, n, matmulVariantFor(rt, { M: n, N: n }));
    matmul.push(row);
    say(
      `matmul ${String(n).padStart(5)}³  ${row.ms.toFixed(3).padStart(10)} ms  ${row.gflops.toFixed(1).padStart(9)} GFLOP/s  (${row.variant}, ${row.iterations} runs)`,
    );
  }
  const batchFlag = given('batch') ? intList(args.flags.get('batch'), [8], 'batch')[0] : undefined;
  const seqFlag = given('seq') ? intList(args.flags.get('seq'), [256], 'seq')[0] : undefined;
  // The shape of one model's run: the flags, else GPT-2-small's own small shape on a CPU fallback, else the default.
  const shape = (spec: string, batch: number, seq: number) =>
    spec === 'gpt2-small' && d.gpt2 && batchFlag === undefined && seqFlag === undefined ? d.gpt2 : { batch: batchFlag ?? batch, seq: seqFlag ?? seq };
  const forward = [];
  for (const spec of list(args, 'forward')) {
    const { name, model } = await modelOf(spec);
    const { batch, seq } = shape(spec, d.forwardBatch, d.forwardSeq);
    progress(`forward ${name} ${batch}×${seq} …`);
    const row = await benchForward(rt, name, model, batch, seq);
    forward.push(row);
    say(
      `forward ${name.padEnd(28)} ${row.batch}×${row.seq}  ${row.ms.toFixed(2).padStart(9)} ms  ${row.tokensPerSecond.toFixed(0).padStart(9)} tokens/s  (${row.iterations} runs; ${row.dispatches} dispatches, ${row.dispatchesPerLayer} per layer)`,
    );
  }
  const train = [];
  const steps = intList(args.flags.get('steps'), [d.steps], 'steps')[0];
  for (const spec of list(args, 'train')) {
    const { name, model } = await modelOf(spec);
    // Training defaults to the reference protocol's step: 32 sequences of 128 positions (smaller on a CPU fallback).
    const { batch, seq } = shape(spec, d.trainBatch, d.trainSeq);
    progress(`train ${name} ${batch}×${seq}, ${steps} steps …`);
    const row = await benchTrain(rt, name, model, batch, seq, steps);
    train.push(row);
    say(
      `train   ${name.padEnd(28)} ${row.batch}×${row.seq}  ${row.msPerStep.toFixed(1).padStart(9)} ms/step  ${row.tokensPerSecond.toFixed(0).padStart(9)} tokens/s  (${row.steps} steps, ${row.microBatch} sequences per forward, ${formatBytes(row.memoryBytes)}${row.dispatchesPerStep === null ? '' : `, ${row.dispatchesPerStep} dispatches per step`})`,
    );
  }
  // The three attention kernels per sequence length (8 sequences of GPT-2-small's 12 heads × 64 unless --batch says
  // otherwise; one sequence on a CPU fallback).
  const attentionRows = [];
  // --attention default: the adapter's default lengths.
  const attentionFlag = args.flags.get('attention');
  const lengths = attentionFlag === undefined ? [] : attentionFlag === 'default' ? d.attention : intList(attentionFlag, d.attention, 'attention');
  const kernels: AttentionVariant[] = ['flash', 'workgroup', 'rows'];
  for (const T of lengths) {
    for (const kernel of kernels) {
      progress(`attention ${kernel} at ${T} positions …`);
      const row = await benchAttention(rt, kernel, T, batchFlag ?? d.attentionBatch);
      attentionRows.push(row);
      say(
        `attention ${kernel.padEnd(9)} ${row.B}×${String(T).padEnd(5)} ${row.heads}×${row.headDim}  ${row.ms.toFixed(3).padStart(9)} ms  ${row.gflops.toFixed(1).padStart(8)} GFLOP/s  (${row.iterations} runs)`,
      );
    }
  }
  const search = [];
  for (const spec of list(args, 'search')) {
    const { name, model, tokenizer } = await modelOf(spec);
    progress(`DHA search ${name} at ${(100 * budget).toFixed(0)} % (calibration first) …`);
    const row = await benchSearch(rt, name, model, await searchSequences(args, model, tokenizer, spec, d.searchDocs), budget);
    search.push(row);
    say(
      `search  ${name.padEnd(28)} ${(100 * budget).toFixed(0)} %  ${row.searchSeconds.toFixed(3).padStart(9)} s  (K/V per layer ${row.perLayer}; calibration ${row.calibrationTokens} tokens, ${row.calibrationSeconds.toFixed(1)} s; best of ${row.runs})`,
    );
  }
  progress('done');
  if (json) process.stdout.write(`${JSON.stringify({ adapter, fallback, matmul, forward, train, attention: attentionRows, search })}\n`);
  return 0;
}
