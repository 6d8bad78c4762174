// headlab bench: matmul per size, forward tokens/s and training tokens/s per model. A benchmark, never a test.
import { createNodeRuntime } from '../gpu/node';
import { benchMatmul } from '../bench/matmul';
import { benchForward, gpt2SmallShaped } from '../bench/forward';
import { benchTrain } from '../bench/train';
import { matmulVariantFor } from '../gpu/kernels/matmul';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles } from '../model/load';
import type { Model } from '../model/types';
import { formatBytes } from '../gpu/errors';
import { intList, UsageError, type ParsedArgs } from './args';

export function adapterName(s: { vendor: string; architecture: string; device: string; description: string }): string {
  return [s.vendor, s.architecture, s.device || s.description].filter((x) => x && x !== 'unknown').join(' / ');
}

async function modelOf(spec: string): Promise<{ name: string; model: Model }> {
  if (spec === 'gpt2-small') return { name: 'gpt2-small (random weights)', model: gpt2SmallShaped() };
  const { files, name, primary } = await filesFromPath(spec);
  return { name: spec.split('/').pop()!, model: (await loadModelFiles(files, { name, primary })).model };
}

function list(args: ParsedArgs, flag: string): string[] {
  const v = args.flags.get(flag);
  if (v === true) throw new UsageError(`--${flag} needs a list of models, e.g. stories260K.bin,gpt2-small`);
  return v ? v.split(',').filter(Boolean) : [];
}

export async function benchCommand(args: ParsedArgs): Promise<number> {
  const json = args.flags.has('json');
  const say = (s: string) => !json && process.stdout.write(`${s}\n`);
  const sizes = intList(args.flags.get('sizes'), [256, 1024, 2048], 'sizes');
  const variantFlag = args.flags.get('variant');
  if (variantFlag !== undefined && variantFlag !== 'tiled' && variantFlag !== 'direct') throw new UsageError('--variant must be tiled or direct');
  const rt = await createNodeRuntime();
  const variant = variantFlag ?? matmulVariantFor(rt);
  const adapter = adapterName(rt.summary);
  const fallback = rt.summary.isFallbackAdapter;
  say(`adapter: ${adapter}`);
  const matmul = [];
  for (const n of sizes) {
    const row = await benchMatmul(rt, n, variant);
    matmul.push(row);
    say(`matmul ${String(n).padStart(5)}³  ${row.ms.toFixed(3).padStart(10)} ms  ${row.gflops.toFixed(1).padStart(9)} GFLOP/s  (${row.variant}, ${row.iterations} runs)`);
  }
  const given = (flag: string) => args.flags.has(flag);
  const batchFlag = given('batch') ? intList(args.flags.get('batch'), [8], 'batch')[0] : undefined;
  const seqFlag = given('seq') ? intList(args.flags.get('seq'), [256], 'seq')[0] : undefined;
  // On a CPU fallback one GPT-2-small step of 8 × 256 takes minutes: measure 1 × 64 unless asked otherwise.
  const shrink = (spec: string) => spec === 'gpt2-small' && fallback && batchFlag === undefined && seqFlag === undefined;
  const forward = [];
  for (const spec of list(args, 'forward')) {
    const { name, model } = await modelOf(spec);
    const row = await benchForward(rt, name, model, shrink(spec) ? 1 : batchFlag ?? 8, shrink(spec) ? 64 : seqFlag ?? 256);
    forward.push(row);
    say(`forward ${name.padEnd(28)} ${row.batch}×${row.seq}  ${row.ms.toFixed(2).padStart(9)} ms  ${row.tokensPerSecond.toFixed(0).padStart(9)} tokens/s  (${row.iterations} runs)`);
  }
  const train = [];
  const steps = intList(args.flags.get('steps'), [3], 'steps')[0];
  for (const spec of list(args, 'train')) {
    const { name, model } = await modelOf(spec);
    // Training defaults to the reference protocol's step: 32 sequences of 128 positions.
    const row = await benchTrain(rt, name, model, shrink(spec) ? 1 : batchFlag ?? 32, shrink(spec) ? 64 : seqFlag ?? 128, steps);
    train.push(row);
    say(`train   ${name.padEnd(28)} ${row.batch}×${row.seq}  ${row.msPerStep.toFixed(1).padStart(9)} ms/step  ${row.tokensPerSecond.toFixed(0).padStart(9)} tokens/s  (${row.steps} steps, ${row.microBatch} sequences per forward, ${formatBytes(row.memoryBytes)})`);
  }
  if (json) process.stdout.write(`${JSON.stringify({ adapter, fallback, matmul, forward, train })}\n`);
  return 0;
}
