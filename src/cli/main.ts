// The `headlab` command line: the same compute core as the page, on Dawn in Node.
import { spawnSync } from 'node:child_process';
import { webgpuEnvironment, NO_DRIVER_HELP } from '../../scripts/vulkan-env.mjs';
import { createNodeRuntime } from '../gpu/node';
import { GpuError } from '../gpu/errors';
import { runSelfTest } from '../gpu/selftest';
import { benchMatmul } from '../bench/matmul';
import { benchForward, gpt2SmallShaped } from '../bench/forward';
import { matmulVariantFor } from '../gpu/kernels/matmul';
import { parseArgs, intList, UsageError } from './args';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles } from '../model/load';
import { modelCard } from '../model/card';
import { evalCommand, generateCommand, logitsCommand, similarityCommand } from './model-commands';
import { ModelFormatError, ModelTooLargeError } from '../model/errors';
import { fuseCommand } from './fuse-command';

const USAGE = `usage: headlab <command> [options]

commands:
  info <model> [--tokenizer F]
                              the model card as JSON (<model>: a .safetensors or llama2.c .bin file, or a
                              Hugging Face folder; a llama2.c tokenizer is found beside it or given)
  logits <model> --input in.safetensors --out out.safetensors
                              logits [B, T, V] F32 for input_ids [B, T] (I32 or I64)
  eval <model> (--text F [--split endoftext|blank-lines] [--min-chars N] [--skip-docs K] [--max-docs M]
               | --tokens F.safetensors) [--json]
                              perplexity; --json prints {ppl, nll, tokens, seconds}
  generate <model> --prompt TEXT [--tokens N] [--seed S] [--temperature T] [--top-k K]
                              a continuation (greedy unless --temperature > 0)
  similarity <model> --metric weight-cosine|cka|aligned (--text F | --tokens F.safetensors) [--max-tokens N] [--json]
                              per layer, the H×H similarity of its K heads and of its V heads, as JSON
  fuse <model> --method meanpool|aligned|dha --kv-budget F (--text F [split flags as eval] | --tokens F.safetensors)
       [--eval-text F [--eval-split …] [--eval-min-chars N] [--eval-skip-docs K] [--eval-max-docs M] | --eval-tokens F]
       [--steps N] [--recovery-steps N] [--seed S] [--tokens-per-step N] [--seq-len T] [--lr F] [--recovery-lr F]
       [--recovery-inputs teacher|student]
       [--max-tokens N] [--renorm] --out DIR [--json]
                              fewer K/V heads: writes the fused model to DIR (config.json + model.safetensors, a
                              llama2.c model.bin when it fits, experiment.json) and prints perLayer, pplBefore,
                              pplAfter, kvBytesPerToken, trainSteps, trainTokens, seconds
  gpu                         adapter, features and limits as JSON
  selftest [--json]           every kernel against its CPU reference
  bench [--json] [--sizes 256,1024,2048] [--variant tiled|direct]
        [--forward MODEL,…] [--batch 8] [--seq 256]
                              matmul time and GFLOP/s per size (variant: the adapter's default); with --forward,
                              forward tokens/s per model (a file or folder, or gpt2-small: GPT-2 small's shapes with
                              random weights)

Without a GPU driver, headlab uses Chromium's SwiftShader (Debian: apt-get install -y chromium).`;

/** Dawn reads LD_LIBRARY_PATH only at process start: re-run ourselves once with a Vulkan driver in the environment. */
function ensureVulkanEnvironment(): void {
  if (process.env.HEADLAB_WEBGPU_BACKEND_CHOSEN) return;
  const { env, backend, changed } = webgpuEnvironment();
  if (backend === 'none') {
    process.stderr.write(`headlab: ${NO_DRIVER_HELP}\n`);
    process.exit(1);
  }
  if (!changed) return;
  const r = spawnSync(process.execPath, process.argv.slice(1), {
    stdio: 'inherit',
    env: { ...env, HEADLAB_WEBGPU_BACKEND_CHOSEN: backend },
  });
  process.exit(r.status ?? 1);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const args = parseArgs(rest, ['json']);
  const json = args.flags.has('json');
  switch (command) {
    case 'info': {
      const target = args.positionals[0];
      if (!target) throw new UsageError('info needs a model: a file or a folder');
      const tok = args.flags.get('tokenizer');
      if (tok === true) throw new UsageError('--tokenizer needs a file');
      const { files, name, primary } = await filesFromPath(target, { tokenizer: tok });
      const loaded = await loadModelFiles(files, { name, primary });
      const card = modelCard(loaded.model, loaded.tokenizer?.kind ?? null);
      process.stdout.write(`${JSON.stringify({ name: loaded.name, ...card, notes: loaded.notes }, null, 2)}\n`);
      return 0;
    }
    case 'logits':
      return logitsCommand(args);
    case 'eval':
      return evalCommand(args);
    case 'generate':
      return generateCommand(args);
    case 'similarity':
      return similarityCommand(args);
    case 'fuse':
      return fuseCommand(args);
    case 'gpu': {
      const rt = await createNodeRuntime();
      process.stdout.write(`${JSON.stringify(rt.summary, null, 2)}\n`);
      return 0;
    }
    case 'selftest': {
      const rt = await createNodeRuntime();
      const rows = [];
      for await (const r of runSelfTest(rt)) {
        rows.push(r);
        if (!json) {
          process.stdout.write(
            `${r.pass ? 'ok  ' : 'FAIL'} ${r.kernel.padEnd(10)} ${r.shape.padEnd(22)} rel ${r.relError.toExponential(2)}  max|Δ| ${r.maxAbsError.toExponential(2)}\n`,
          );
        }
      }
      if (json) process.stdout.write(`${JSON.stringify({ adapter: adapterName(rt.summary), results: rows })}\n`);
      return rows.every((r) => r.pass) ? 0 : 1;
    }
    case 'bench': {
      const sizes = intList(args.flags.get('sizes'), [256, 1024, 2048], 'sizes');
      const variantFlag = args.flags.get('variant');
      if (variantFlag !== undefined && variantFlag !== 'tiled' && variantFlag !== 'direct') {
        throw new UsageError('--variant must be tiled or direct');
      }
      const rt = await createNodeRuntime();
      const variant = variantFlag ?? matmulVariantFor(rt);
      const adapter = adapterName(rt.summary);
      if (!json) process.stdout.write(`adapter: ${adapter}\n`);
      const matmul = [];
      for (const n of sizes) {
        const row = await benchMatmul(rt, n, variant);
        matmul.push(row);
        if (!json) process.stdout.write(`matmul ${String(n).padStart(5)}³  ${row.ms.toFixed(3).padStart(10)} ms  ${row.gflops.toFixed(1).padStart(9)} GFLOP/s  (${row.variant}, ${row.iterations} runs)\n`);
      }
      const forward = [];
      const forwardList = args.flags.get('forward');
      if (forwardList === true) throw new UsageError('--forward needs a list of models, e.g. stories260K.bin,gpt2-small');
      const batch = intList(args.flags.get('batch'), [8], 'batch')[0];
      const seq = intList(args.flags.get('seq'), [256], 'seq')[0];
      for (const spec of forwardList ? forwardList.split(',').filter(Boolean) : []) {
        let model;
        if (spec === 'gpt2-small') model = gpt2SmallShaped();
        else {
          const { files, name, primary } = await filesFromPath(spec);
          model = (await loadModelFiles(files, { name, primary })).model;
        }
        const name = spec === 'gpt2-small' ? 'gpt2-small (random weights)' : spec.split('/').pop()!;
        // On a CPU fallback one GPT-2-small forward of 8 × 256 takes minutes: measure 1 × 64 unless asked otherwise.
        const small = spec === 'gpt2-small' && rt.summary.isFallbackAdapter && !args.flags.has('batch') && !args.flags.has('seq');
        const row = await benchForward(rt, name, model, small ? 1 : batch, small ? 64 : seq);
        forward.push(row);
        if (!json) process.stdout.write(`forward ${name.padEnd(28)} ${row.batch}×${row.seq}  ${row.ms.toFixed(2).padStart(9)} ms  ${row.tokensPerSecond.toFixed(0).padStart(9)} tokens/s  (${row.iterations} runs)\n`);
      }
      if (json) process.stdout.write(`${JSON.stringify({ adapter, fallback: rt.summary.isFallbackAdapter, matmul, forward })}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function adapterName(s: { vendor: string; architecture: string; device: string; description: string }): string {
  return [s.vendor, s.architecture, s.device || s.description].filter((x) => x && x !== 'unknown').join(' / ');
}

/** Commands that need no GPU run without looking for a Vulkan driver. */
const CPU_COMMANDS = new Set(['info', 'help', '--help', '-h', undefined]);
if (!CPU_COMMANDS.has(process.argv[2])) ensureVulkanEnvironment();
// `headlab … | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) process.stderr.write(`headlab: ${e.message}\n${USAGE}\n`);
    else if (e instanceof GpuError || e instanceof ModelFormatError || e instanceof ModelTooLargeError) process.stderr.write(`headlab: ${e.message}\n`);
    else process.stderr.write(`headlab: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
