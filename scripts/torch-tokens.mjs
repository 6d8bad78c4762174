#!/usr/bin/env node
// The lab's documents as token ids, for python/headlab_torch (scripts/torch.sh train --text): runs the lab's own
// documentsFromArgs (src/cli/model-commands.ts) — the split flags, the tokenizer found as the lab finds it, BOS, the cut to
// the context — and writes them as safetensors: train.ids [all tokens] + train.lengths [documents], and eval.* likewise.
//   node scripts/torch-tokens.mjs MODEL --vocab V --context N [--tokenizer F]
//     [--text F [--split endoftext|blank-lines] [--min-chars N] [--skip-docs K] [--max-docs M] | --tokens F]
//     [--eval-text F [--eval-split …] [--eval-min-chars N] [--eval-skip-docs K] [--eval-max-docs M] | --eval-tokens F]
//     --out docs.safetensors
// The model's weights are not read (vocab and context come from the caller, which has loaded the model): the tokenizer is
// chosen as src/model/load.ts chooses it (tokenizer.json, else llama2.c's tok<vocab>.bin or tokenizer.bin). The lab's code
// is bundled once into dist/torch/lab-data.mjs (esbuild, as scripts/build-cli.mjs bundles the command), again when src/ is newer.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundle = path.join(root, 'dist/torch/lab-data.mjs');

const ENTRY = `
export { parseArgs, UsageError } from './src/cli/args';
export { documentsFromArgs, int, str } from './src/cli/model-commands';
export { filesFromPath } from './src/model/node-files';
export { findLlama2cTokenizer } from './src/model/load';
export { readJsonFile } from './src/model/hfFiles';
export { HfTokenizer, Llama2cTokenizer } from './src/model/tokenizer';
export { ModelFormatError } from './src/model/errors';
export { writeSafetensors } from './src/model/safetensors';
`;

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

async function labModules() {
  const sources = Math.max(newest(path.join(root, 'src')), newest(path.join(root, 'shaders')), statSync(fileURLToPath(import.meta.url)).mtimeMs);
  if (!existsSync(bundle) || statSync(bundle).mtimeMs < sources) {
    const raw = {
      name: 'raw-text',
      setup(b) {
        b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: path.resolve(args.resolveDir, args.path.replace(/\?raw$/, '')), namespace: 'raw-text' }));
        b.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text' }));
      },
    };
    const r = await build({
      stdin: { contents: ENTRY, resolveDir: root, loader: 'ts', sourcefile: 'torch-tokens-entry.ts' },
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['webgpu'],
      plugins: [raw],
      logLevel: 'warning',
      legalComments: 'none',
    });
    const tmp = `${bundle}.${process.pid}.tmp`;
    mkdirSync(path.dirname(bundle), { recursive: true });
    writeFileSync(tmp, r.outputFiles[0].contents);
    renameSync(tmp, bundle); // atomic: a concurrent run reads the old or the new bundle, never half of one
  }
  return import(pathToFileURL(bundle).href);
}

const VALUES = ['vocab', 'context', 'tokenizer', 'out'];
for (const p of ['', 'eval-']) VALUES.push(...['text', 'tokens', 'split', 'min-chars', 'skip-docs', 'max-docs'].map((f) => `${p}${f}`));

async function main() {
  const lab = await labModules();
  try {
    const args = lab.parseArgs(process.argv.slice(2));
    for (const [flag, v] of args.flags) {
      if (!VALUES.includes(flag)) throw new lab.UsageError(`unknown flag --${flag}; torch-tokens takes ${VALUES.map((f) => `--${f}`).join(' ')}`);
      if (v === true) throw new lab.UsageError(`--${flag} needs a value`);
    }
    const target = args.positionals[0];
    const out = lab.str(args, 'out');
    const vocab = lab.int(args, 'vocab');
    const context = lab.int(args, 'context');
    if (!target || !out || !vocab || !context) throw new lab.UsageError('torch-tokens needs MODEL, --vocab V, --context N and --out F');
    const { files, name } = await lab.filesFromPath(target, { tokenizer: lab.str(args, 'tokenizer') });
    // The tokenizer as src/model/load.ts loadModelFiles picks it.
    let tokenizer = null;
    if (files.has('config.json') && files.has('tokenizer.json')) {
      const cfg = files.has('tokenizer_config.json') ? await lab.readJsonFile(files, 'tokenizer_config.json') : {};
      tokenizer = new lab.HfTokenizer(await lab.readJsonFile(files, 'tokenizer.json'), cfg);
    } else {
      const tok = lab.findLlama2cTokenizer(files, vocab);
      if (tok) tokenizer = lab.Llama2cTokenizer.parse(await files.get(tok).arrayBuffer(), vocab, tok);
    }
    const loaded = { model: { config: { vocab, contextLength: context } }, tokenizer, name, notes: [] };
    const tensors = [];
    for (const [prefix, key] of [
      ['', 'train'],
      ['eval-', 'eval'],
    ]) {
      const docs = await lab.documentsFromArgs(args, loaded, prefix);
      if (!docs) continue;
      tensors.push(
        { name: `${key}.ids`, dtype: 'I32', shape: [docs.reduce((n, d) => n + d.length, 0)], data: Int32Array.from(docs.flat()) },
        { name: `${key}.lengths`, dtype: 'I32', shape: [docs.length], data: Int32Array.from(docs, (d) => d.length) },
      );
    }
    writeFileSync(out, lab.writeSafetensors(tensors, { producer: 'headlab torch-tokens', model: name }));
    return 0;
  } catch (e) {
    if (e instanceof lab.UsageError || e instanceof lab.ModelFormatError) {
      process.stderr.write(`headlab: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

process.exit(await main());
