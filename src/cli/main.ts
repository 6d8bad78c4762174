// The `headlab` command line: the same compute core as the page, on Dawn in Node.
import { spawnSync } from 'node:child_process';
import { webgpuEnvironment, NO_DRIVER_HELP } from '../../scripts/vulkan-env.mjs';
import { createNodeRuntime } from '../gpu/node';
import { GpuError } from '../gpu/errors';
import { runSelfTest } from '../gpu/selftest';
import { UsageError } from './args';
import { adapterName, benchCommand } from './bench-command';
import { parseCommand } from './flags';
import { trainCommand } from './train-command';
import { exampleCommand } from './example-command';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles } from '../model/load';
import { modelCard } from '../model/card';
import { evalCommand, generateCommand, logitsCommand, similarityCommand } from './model-commands';
import { ModelFormatError, ModelTooLargeError } from '../model/errors';
import { fuseCommand } from './fuse-command';
import { ladderCommand } from './ladder-command';

const USAGE = `usage: headlab <command> [options]

commands:
  info <model> [--tokenizer F]
                              the model card as JSON (<model>: a .safetensors or llama2.c .bin file, or a
                              Hugging Face folder; a llama2.c tokenizer is found beside it or given)
  logits <model> --input in.safetensors --out out.safetensors
                              logits [B, T, V] F32 for input_ids [B, T] (I32 or I64)
  eval <model> (--text F [--split endoftext|blank-lines] [--min-chars N] [--skip-docs K] [--max-docs M]
               | --tokens F.safetensors) [KV cache flags] [--json]
                              perplexity; --json prints {ppl, nll, tokens, seconds, kvQuant, kvCache}
  generate <model> --prompt TEXT [--tokens N] [--seed S] [--temperature T] [--top-k K] [KV cache flags]
                              a continuation (greedy unless --temperature > 0)
  KV cache flags (eval, generate, fuse, ladder): --kv-bits 16|8|4|3|2 [--kv-group N] [--kv-residual R]
       [--key-axis channel|token] [--key-rope pre|post] [--keep-sink]
                              a quantised KV cache (docs/ALGORITHMS.md §7): each group of N values (32) stored as
                              bits-wide codes with a 16-bit minimum and scale; keys grouped per channel (default) or per
                              token, values per token; the last R positions (32) and the group still filling stay exact;
                              keys quantised after rotary (default, as KIVI) or before it (KVQuant); --keep-sink keeps
                              position 0 exact. 16: the full-precision cache. fuse evaluates the original and the
                              converted model through it too (--json: kvCache); ladder evaluates the trained models
                              through it
  similarity <model> --metric weight-cosine|cka|aligned (--text F | --tokens F.safetensors) [--max-tokens N] [--json]
                              per layer, the H×H similarity of its K heads and of its V heads, as JSON
  fuse <model> --method meanpool|aligned|dha|mla --kv-budget F (--text F [split flags as eval] | --tokens F.safetensors)
       [--eval-text F [--eval-split …] [--eval-min-chars N] [--eval-skip-docs K] [--eval-max-docs M] | --eval-tokens F]
       [--grouping contiguous|cost] [--align on|off] [--renorm on|off | --no-renorm] [--kv-groups shared|separate]
       [--group-sizes equal|free] [--allocation uniform|search] [--kv-split equal|joint]
       [--steps N] [--seed S] [--tokens-per-step N] [--seq-len T] [--lr F] [--fusion-params attention|kv]
       [--fusion-inputs student|teacher] [--check-every N] [--fusion merge|progressive]
       [--fusion-trains operators|all] [--operator-lr F]
       [--rope-select norm|high|low|uniform] [--latent-init weights|activations] [--rope-pairs R]
       [--train-steps N [--train-lr F] [--train-params all|attention|kv] [--train-loss kl|ce|mix] [--train-batch B]
        [--train-seq T] [--train-schedule constant|cosine] [--train-warmup N] [--train-min-lr F]
        [--train-weight-decay F] [--train-clip F] [--train-kl-weight F] [--train-eval-every N]]
       [--max-tokens N] --out DIR [--json]
                              a smaller KV cache: writes the converted model to DIR (config.json + model.safetensors, a
                              llama2.c model.bin when it fits, experiment.json: the run's record) and prints it.
                              A head-sharing method is a preset of one recipe (docs/FUSION.md): mean-pool = contiguous,
                              no alignment, no renorm, shared K/V groups, equal sizes, uniform counts; the aligned merge
                              = groups by cost, aligned, renormalised; DHA = that with separate K/V groups, free sizes
                              and searched counts. Each recipe flag changes one choice on top of --method; a combination
                              that cannot run is refused with the reason. --steps N: the conversion's own layer-local
                              steps (DHA: 100, 20 on a CPU fallback; 0 when --train-steps follows). MLA (a latent KV
                              cache of the same bytes): --rope-select picks the R rotary pairs per K head that keep
                              RoPE (norm: by calibration energy), --latent-init factors keys and values from the
                              weights or the calibration activations; --json has latent: [{rank, ropePairs, kept}].
                              With --train-steps N the converted model is trained end to end toward the original (KL
                              distillation on the calibration text) on a budget of N steps of train-batch × train-seq
                              tokens shared by every method: own steps come out of it; --json has ownSteps,
                              recoverySteps and curve: [{step, tokens, loss, ppl}] (tokens count the conversion's own)
  ladder <model> --kv-budget F (--text F [split flags] | --tokens F) (--eval-text F [--eval-split …] | --eval-tokens F)
       [--seeds K] [--seed S] [--own-steps N] [--train-* flags as fuse] [--only REGEX] [--no-latent] [--max-tokens N]
       [--jsonl FILE] [--json]
                              the ladder from mean-pool to DHA, one recipe choice per rung (docs/FUSION.md): every rung
                              converted and trained on the same tokens and batches for K seeds (S, S+1, …), and the latent
                              KV at the same bytes beside it; prints per rung the change, the converted and the trained
                              perplexity (mean [min, max]) and the effect of its change — "no measurable difference" when
                              the seeds' ranges overlap. --own-steps: the last rung's own steps (a quarter of the training
                              steps by default, each of train-batch × train-seq tokens); --jsonl appends each finished run;
                              --json prints {original, rungs: [{name, label, recipe, change, converted, trained: {values,
                              mean, min, max}, effect, tokens}], latent}
  train <model> (--text F [split flags] | --tokens F.safetensors) --steps N --out DIR [--teacher MODEL]
       [--eval-text F [--eval-split …] | --eval-tokens F] [--lr F] [--params all|attention|kv] [--loss kl|ce|mix]
       [--kl-weight F] [--batch B] [--seq T] [--schedule constant|cosine] [--warmup N] [--min-lr F]
       [--weight-decay F] [--clip F] [--eval-every N] [--seed S] [--max-tokens N] [--json]
                              continued training of any checkpoint (fused or not): distillation from --teacher
                              (default loss kl) or next-token cross-entropy (default without a teacher); writes it
                              like fuse and prints pplBefore, pplAfter, seconds, tokensPerSecond, memory, curve
  example <model> --text F --out FILE.json
                              the worked example the page shows without WebGPU (scripts/make-example.sh)
  gpu                         adapter, features and limits as JSON
  selftest [--json]           every kernel against its CPU reference
  bench [--json] [--sizes 256,1024,2048] [--variant wide|tiled|direct]
        [--forward MODEL,…] [--train MODEL,…] [--batch 8] [--seq 256] [--steps 3]
        [--attention 128,512,1024|default] [--search MODEL,… [--budget 0.25] [--text F]]
                              matmul time and GFLOP/s per size (--variant: that kernel for every product of
                              the run, else the adapter's choice per shape); with --forward, forward tokens/s per
                              model (a file or folder, or gpt2-small: GPT-2 small's shapes with random weights);
                              with --train, training tokens/s per model (KL distillation from itself, all weights,
                              --batch × --seq tokens per step); with --attention, causal attention per sequence
                              length and kernel (flash, workgroup, rows; --batch × 12 heads × 64, 1 sequence on a
                              CPU adapter); with --search, DHA's search seconds per model at --budget (0.25),
                              calibrated on --text F's paragraphs (or random tokens)

Without a GPU driver, headlab uses Chromium's SwiftShader (Debian: apt-get install -y chromium).`;

/** Dawn reads LD_LIBRARY_PATH only at process start: re-run ourselves once with a Vulkan driver in the environment. */
function ensureVulkanEnvironment(): void {
  if (process.env.HEADLAB_WEBGPU_BACKEND_CHOSEN) return;
  const { env, backend, changed, note } = webgpuEnvironment();
  // The commands about the adapter say when the installed drivers gave none and SwiftShader stands in; the others go on quietly.
  if (note && ADAPTER_COMMANDS.has(process.argv[2])) process.stderr.write(`headlab: ${note}\n`);
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
  const args = parseCommand(command, rest);
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
    case 'train':
      return trainCommand(args);
    case 'ladder':
      return ladderCommand(args);
    case 'example':
      return exampleCommand(args);
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
            `${r.pass ? 'ok  ' : 'FAIL'} ${r.kernel.padEnd(27)} ${r.shape.padEnd(34)} rel ${r.relError.toExponential(2)}  max|Δ| ${r.maxAbsError.toExponential(2)}\n`,
          );
        }
      }
      if (json) process.stdout.write(`${JSON.stringify({ adapter: adapterName(rt.summary), results: rows })}\n`);
      return rows.every((r) => r.pass) ? 0 : 1;
    }
    case 'bench':
      return benchCommand(args);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Commands that report on the adapter itself. */
const ADAPTER_COMMANDS = new Set(['gpu', 'selftest', 'bench']);
/** Commands that need no GPU run without looking for a Vulkan driver. */
const CPU_COMMANDS = new Set(['info', 'help', '--help', '-h', undefined]);
if (!CPU_COMMANDS.has(process.argv[2])) ensureVulkanEnvironment();
// `headlab … | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) process.stderr.write(`headlab: ${e.message}\n`);
    else if (e instanceof GpuError || e instanceof ModelFormatError || e instanceof ModelTooLargeError) process.stderr.write(`headlab: ${e.message}\n`);
    else process.stderr.write(`headlab: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
