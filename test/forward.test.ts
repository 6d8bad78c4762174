// The GPU forward pass against transformers' golden logits for every fixture and both llama2.c checkpoints:
// max |Δ| ≤ 1e-4 · max |golden|. Also: chunked runs against the KV cache give the same logits as one run.
import { beforeAll, describe, expect, it } from 'vitest';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { GpuModel } from '../src/eval/gpuModel';
import { ForwardPass } from '../src/eval/forward';
import { expandToMha } from '../src/model/heads';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { Model } from '../src/model/types';
import { golden } from './golden';
import { gpu } from './gpu-context';
import { testdata } from './testdata';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});

async function loadModel(p: string): Promise<Model> {
  const { files, primary } = await filesFromPath(testdata(p));
  return (await loadModelFiles(files, { primary })).model;
}

function relMaxDiff(a: ArrayLike<number>, golden: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < golden.length; i++) {
    d = Math.max(d, Math.abs(a[i] - golden[i]));
    m = Math.max(m, Math.abs(golden[i]));
  }
  return Number.isNaN(d) ? NaN : d / m;
}

const CASES: [string, string, string][] = [
  ...['gpt2', 'gpt2-f16', 'llama-mha', 'llama-gqa-bf16', 'llama-mha-sharded', 'gpt-neox'].map(
    (d) => [d, `fixtures/hf/${d}`, `fixtures/hf/${d}/golden.safetensors`] as [string, string, string],
  ),
  ['stories260K', 'data/stories260K.bin', 'fixtures/stories260K-golden.safetensors'],
  ['tinystories-mha', 'data/tinystories-mha.bin', 'fixtures/tinystories-mha-golden.safetensors'],
];

describe('GPU forward vs transformers', () => {
  it.each(CASES)('%s', async (_name, modelPath, goldenPath) => {
    const model = await loadModel(modelPath);
    const g = await golden(testdata(goldenPath));
    const [B, T] = g.idsShape;
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: B, chunk: T, cacheT: T });
    rt.fill(fp.logits, NaN);
    await fp.run(Uint32Array.from(g.ids), T, 0);
    const logits = await fp.readLogits();
    expect(logits.length).toBe(g.logits.length);
    expect(relMaxDiff(logits, g.logits)).toBeLessThan(1e-4);
    fp.release();
    gm.release();
  });
});

describe('GPU forward, chunked and expanded', () => {
  it('stories260K in chunks of 7 against the KV cache gives the logits of one pass', async () => {
    const model = await loadModel('data/stories260K.bin');
    const g = await golden(testdata('fixtures/stories260K-golden.safetensors'));
    const T = g.idsShape[1];
    const V = model.config.vocab;
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: 1, chunk: 7, cacheT: T });
    const out = new Float32Array(T * V).fill(NaN);
    for (let p0 = 0; p0 < T; p0 += 7) {
      const n = Math.min(7, T - p0);
      await fp.run(Uint32Array.from(g.ids.subarray(p0, p0 + n)), n, p0);
      out.set(await fp.readLogits(), p0 * V);
    }
    expect(relMaxDiff(out, g.logits)).toBeLessThan(1e-4);
    fp.release();
    gm.release();
  });

  it('stories260K expanded to MHA (each of its 4 KV heads repeated) gives the same logits', async () => {
    const model = expandToMha(await loadModel('data/stories260K.bin'));
    const g = await golden(testdata('fixtures/stories260K-golden.safetensors'));
    const T = g.idsShape[1];
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: 1, chunk: T, cacheT: T });
    await fp.run(Uint32Array.from(g.ids), T, 0);
    expect(relMaxDiff(await fp.readLogits(), g.logits)).toBeLessThan(1e-4);
    fp.release();
    gm.release();
  });

  it.each([
    ['stories260K (tied)', 'data/stories260K.bin', 'fixtures/stories260K-golden.safetensors'],
    ['gpt-neox (untied)', 'fixtures/hf/gpt-neox', 'fixtures/hf/gpt-neox/golden.safetensors'],
  ])('%s with its embedding and LM head split across bindings gives the same logits', async (_n, modelPath, goldenPath) => {
    const model = await loadModel(modelPath);
    const g = await golden(testdata(goldenPath));
    const [B, T] = g.idsShape;
    const gm = await GpuModel.upload(rt, model, { maxBindingBytes: 7 * model.config.dim * 4 + 100 }); // 7 rows per binding
    expect(gm.embed.parts.length).toBe(Math.ceil(model.config.vocab / 7));
    expect(gm.embed.parts[1].tensor.label).toBe('embed[7:14]');
    const fp = await ForwardPass.create(gm, { batch: B, chunk: T, cacheT: T });
    rt.fill(fp.logits, NaN);
    await fp.run(Uint32Array.from(g.ids), T, 0);
    expect(relMaxDiff(await fp.readLogits(), g.logits)).toBeLessThan(1e-4);
    fp.release();
    gm.release();
  });

  it('refuses token ids outside the vocabulary and positions past the cache', async () => {
    const model = await loadModel('fixtures/hf/gpt2');
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: 1, chunk: 4, cacheT: 4 });
    await expect(fp.run(new Uint32Array([1, 2, 999, 3]), 4, 0)).rejects.toThrow(/token id 999 is outside the vocabulary of 320/);
    await expect(fp.run(new Uint32Array([1, 2]), 2, 3)).rejects.toThrow(/exceed the KV cache of 4/);
    fp.release();
    gm.release();
  });
});
