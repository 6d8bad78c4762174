#!/usr/bin/env node
// `npm run bench [-- --json]`: builds the headlab bundle, then measures matmul at 256/1024/2048, the forward pass
// (stories260K, tinystories-mha from testdata/, and GPT-2 small's shapes; batch 8 × 256) and training steps
// (tinystories-mha and GPT-2 small's shapes; 32 × 128, the reference protocol's step), and DHA's search on tinystories-mha
// calibrated on the protocol's paragraphs of tinystories_val.txt, and causal attention at 128/512/1024 positions. On a CPU
// fallback adapter (SwiftShader) every size shrinks so that the run takes minutes, and it says so. Progress on stderr. Not a test.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const testdata = path.resolve(process.env.HEADLAB_TESTDATA ?? path.join(root, 'testdata'));
const build = spawnSync(process.execPath, [path.join(root, 'scripts/build-cli.mjs'), '--quiet'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(1);
const args = process.argv.slice(2);
if (!args.some((a) => a.startsWith('--forward'))) {
  const models = ['data/stories260K.bin', 'data/tinystories-mha.bin'].map((p) => path.join(testdata, p)).filter(existsSync);
  args.push('--forward', [...models, 'gpt2-small'].join(','));
}
if (!args.some((a) => a.startsWith('--train'))) {
  const mha = path.join(testdata, 'data/tinystories-mha.bin');
  args.push('--train', [...(existsSync(mha) ? [mha] : []), 'gpt2-small'].join(','));
}
if (!args.some((a) => a.startsWith('--attention'))) args.push('--attention', 'default'); // the adapter's default lengths
if (!args.some((a) => a.startsWith('--search'))) {
  const mha = path.join(testdata, 'data/tinystories-mha.bin');
  const text = path.join(testdata, 'data/tinystories_val.txt');
  if (existsSync(mha) && existsSync(text)) args.push('--search', mha, '--text', text);
}
const r = spawnSync(process.execPath, [path.join(root, 'dist/cli/headlab.mjs'), 'bench', ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
