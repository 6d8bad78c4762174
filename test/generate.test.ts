// Generation: greedy decoding of the built-in demo reproduces transformers' greedy continuation; sampling is seeded.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles, type LoadedModel } from '../src/model/load';
import { GpuModel } from '../src/eval/gpuModel';
import { generate, sample } from '../src/eval/generate';
import { seededRandom } from '../src/random';
import { gpu } from './gpu-context';
import { testdata } from './testdata';

let demo: LoadedModel;
let gm: GpuModel;
beforeAll(async () => {
  const { files, primary } = await filesFromPath(testdata('data/demo/demo-mha-bytes.bin'));
  demo = await loadModelFiles(files, { primary });
  gm = await GpuModel.upload(await gpu(), demo.model);
});

async function run(prompt: string, opts: { maxTokens: number; temperature: number; topK: number; seed: number }) {
  const toks = [];
  for await (const t of generate(gm, demo.tokenizer!, prompt, opts)) toks.push(t);
  return toks;
}

describe('generation', () => {
  it('greedy: the demo continues "Once upon a time" exactly as transformers did', async () => {
    const ref: string = JSON.parse(readFileSync(testdata('data/demo/demo-mha-bytes-reference.json'), 'utf8')).greedy;
    const prompt = 'Once upon a time';
    const want = ref.slice(` ${prompt}`.length);
    const toks = await run(prompt, { maxTokens: want.length, temperature: 0, topK: 0, seed: 1 });
    expect(toks.map((t) => t.text).join('')).toBe(want);
    const last = toks.at(-1)!;
    expect(last.cachedTokens).toBe(1 + 1 + prompt.length + want.length); // BOS, the dummy space, prompt bytes, generated
    expect(last.kvCacheBytes).toBe(last.cachedTokens * 4 * 2 * 8 * 16 * 4);
  });

  it('sampling with a seed is reproducible, and a different seed differs', async () => {
    const opts = { maxTokens: 40, temperature: 1, topK: 20, seed: 7 };
    const a = (await run('The dog', opts)).map((t) => t.id);
    const b = (await run('The dog', opts)).map((t) => t.id);
    const c = (await run('The dog', { ...opts, seed: 8 })).map((t) => t.id);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('top-k keeps only the k most likely tokens; temperature 0 is argmax', () => {
    const logits = new Float32Array([0, 5, 1, 4.9, -2]);
    const r = seededRandom(3);
    const seen = new Set(Array.from({ length: 200 }, () => sample(logits, 1, 2, r)));
    expect([...seen].sort()).toEqual([1, 3]);
    expect(sample(logits, 0, 0, r)).toBe(1);
  });
});
