// PyTorch computes the lab's logits (issue #30): `bash scripts/torch.sh logits` (python/headlab_torch) on random token ids
// equals forwardRef, the lab's float64 reference, within 1e-4 relative (max |Δ| over max |logit|) for a llama2.c checkpoint,
// Hugging Face folders of every family the lab reads, and the lab's own exports — a GQA export (a Hugging Face Llama folder),
// DHA folders (per-layer K and V head counts, decoupled maps) and latent (MLA) folders — each written by the lab's own code.
// Without a Python that imports torch every case fails with one line saying what to install (on Debian as root, npm test
// installs python3-torch with apt-get, as it installs Chromium).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openAsBlob, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Model } from '../src/model/types';
import type { FileMap } from '../src/model/hfFiles';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { readFloatTensor, readSafetensorsHeader, writeSafetensors } from '../src/model/safetensors';
import { forwardRef } from '../src/reference/transformer';
import { mergeHeads, type LayerMerge } from '../src/fusion/edit';
import { mlaConvert } from '../src/fusion/mla';
import { exportFusedModel } from '../src/fusion/export';
import { seededRandom } from '../src/random';
import { modelAt, modelOf } from './models';
import { gptNeoFiles, qwen2Files } from './synthetic';
import { REPO_ROOT, testdata } from './testdata';

const TOLERANCE = 1e-4;
let work: string;
/** Why torch cannot run here (one line), or null. */
let missing: string | null = null;
const figures: string[] = [];

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'headlab-torch-'));
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts/torch.sh'), 'info'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) missing = (r.stderr || r.error?.message || `scripts/torch.sh info exited with ${r.status}`).trim().split('\n').pop()!;
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  if (figures.length) console.log(`[torch parity] max relative error, PyTorch float32 vs forwardRef float64:\n  ${figures.join('\n  ')}`);
});

let folders = 0;
/** Writes files (a FileMap or an export) to a fresh folder under the test's temp dir. */
async function writeFolder(files: FileMap | { name: string; data: Uint8Array }[]): Promise<string> {
  const dir = path.join(work, `model-${folders++}`);
  mkdirSync(dir);
  const entries = files instanceof Map ? [...files.entries()] : files.map((f) => [f.name, f.data] as const);
  for (const [name, data] of entries) writeFileSync(path.join(dir, name), data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : data);
  return dir;
}

/** Exports a model as the lab does (src/fusion/export.ts) and checks which format the export chose. */
async function exported(model: Model, format: 'headlab-dha' | 'headlab-mla' | 'LlamaForCausalLM'): Promise<string> {
  const dir = await writeFolder(exportFusedModel(model));
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as { model_type?: string; architectures?: string[] };
  expect(format === 'LlamaForCausalLM' ? config.architectures?.[0] : config.model_type).toBe(format);
  return dir;
}

const fixture = async (p: string) => testdata(p);
const mla = async (model: Model, ropePairs: number, budget = 0.5) =>
  exported((await mlaConvert(model, null, { budget, ropePairs, ropeSelect: 'uniform', latentInit: 'weights' })).model, 'headlab-mla');
const gqaMerge = (layers: number, groups: number[][]): LayerMerge[] => Array.from({ length: layers }, () => ({ kGroups: groups, vGroups: groups }));

const CASES: [string, () => Promise<string>][] = [
  ['llama2.c stories260K (GQA, interleaved rotary, tied)', () => fixture('data/stories260K.bin')],
  ['Hugging Face Llama MHA (rotate-half, untied)', () => fixture('fixtures/hf/llama-mha')],
  ['Hugging Face Llama GQA (BF16 weights and rotary frequencies, tied)', () => fixture('fixtures/hf/llama-gqa-bf16')],
  ['Hugging Face Qwen2 (q/k/v biases, GQA, θ 10⁶)', () => writeFolder(qwen2Files())],
  ['Hugging Face GPT-2 (LayerNorm, learned positions, GELU tanh, Conv1D)', () => fixture('fixtures/hf/gpt2')],
  ['Hugging Face GPT-NeoX (partial rotary, parallel residual, GELU erf)', () => fixture('fixtures/hf/gpt-neox')],
  ['Hugging Face GPT-Neo (local window 4, unscaled scores)', () => writeFolder(gptNeoFiles(16, 4))],
  [
    "the lab's GQA export of stories260K (2 KV heads: a Hugging Face Llama folder, rotary rows permuted)",
    async () =>
      exported(
        mergeHeads(
          await modelAt('data/stories260K.bin'),
          gqaMerge(5, [
            [0, 1],
            [2, 3],
          ]),
        ),
        'LlamaForCausalLM',
      ),
  ],
  [
    'headlab-dha of Llama MHA (3 K / 2 V heads, then 1 K / 3 V heads, decoupled maps)',
    async () =>
      exported(
        mergeHeads(await modelAt('fixtures/hf/llama-mha'), [
          {
            kGroups: [[0, 2], [1], [3]],
            vGroups: [
              [0, 1],
              [2, 3],
            ],
          },
          { kGroups: [[0, 1, 2, 3]], vGroups: [[3], [0, 2], [1]] },
        ]),
        'headlab-dha',
      ),
  ],
  [
    'headlab-dha of GPT-NeoX (merged k/v biases, partial rotary)',
    async () =>
      exported(
        mergeHeads(await modelAt('fixtures/hf/gpt-neox'), [
          {
            kGroups: [
              [0, 3],
              [1, 2],
            ],
            vGroups: [[0], [1, 2, 3]],
          },
          { kGroups: [[0], [1], [2, 3]], vGroups: [[0, 1, 2, 3]] },
        ]),
        'headlab-dha',
      ),
  ],
  ['headlab-mla of stories260K (interleaved rotary, GQA, 2 of 4 pairs kept)', async () => mla(await modelAt('data/stories260K.bin'), 2)],
  ['headlab-mla of Qwen2 (k/v biases, GQA, 1 of 2 pairs kept)', async () => mla(await modelOf(qwen2Files()), 1)],
  ['headlab-mla of GPT-NeoX (partial rotary, 1 of 2 pairs kept)', async () => mla(await modelAt('fixtures/hf/gpt-neox'), 1)],
];

describe('PyTorch (scripts/torch.sh logits) computes the lab logits', () => {
  it.each(CASES)('%s', async (name, make) => {
    if (missing) throw new Error(missing);
    const dir = await make();
    const { files, primary } = await filesFromPath(dir);
    const { model } = await loadModelFiles(files, { primary });
    const B = 2;
    const T = Math.min(32, model.config.contextLength);
    const V = model.config.vocab;
    const rand = seededRandom(30);
    const ids = Int32Array.from({ length: B * T }, () => Math.floor(rand() * V));
    const input = path.join(work, 'ids.safetensors');
    const out = path.join(work, 'logits.safetensors');
    writeFileSync(input, writeSafetensors([{ name: 'input_ids', dtype: 'I32', shape: [B, T], data: ids }]));
    const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts/torch.sh'), 'logits', dir, '--input', input, '--out', out], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const f = await readSafetensorsHeader(await openAsBlob(out), out);
    const info = f.tensors.get('logits')!;
    expect({ dtype: info.dtype, shape: info.shape }).toEqual({ dtype: 'F32', shape: [B, T, V] });
    const got = await readFloatTensor(f, info);
    let diff = 0;
    let scale = 0;
    for (let b = 0; b < B; b++) {
      const ref = forwardRef(model, Array.from(ids.subarray(b * T, (b + 1) * T)));
      for (let i = 0; i < T * V; i++) {
        diff = Math.max(diff, Math.abs(got[b * T * V + i] - ref[i]));
        scale = Math.max(scale, Math.abs(ref[i]));
      }
    }
    const rel = diff / scale;
    figures.push(`${rel.toExponential(2)}  ${name}`);
    expect(rel).toBeLessThan(TOLERANCE);
  });
});
