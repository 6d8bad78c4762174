// Perplexity on the GPU reproduces the values transformers computed (fixtures/*-reference.json) within ±0.002.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { GpuModel } from '../src/eval/gpuModel';
import { perplexity, splitDocuments, tokenizeDocuments, type DocumentSelection } from '../src/eval/perplexity';
import type { GpuRuntime } from '../src/gpu/runtime';
import { gpu } from './gpu-context';
import { testdata } from './testdata';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});

const SAMPLE: DocumentSelection = { split: 'endoftext' };
const VAL150: DocumentSelection = { split: 'blank-lines', minChars: 100, maxDocs: 150 };

async function ppl(modelPath: string, textPath: string, sel: DocumentSelection) {
  const { files, primary } = await filesFromPath(testdata(modelPath));
  const { model, tokenizer } = await loadModelFiles(files, { primary });
  const docs = tokenizeDocuments(splitDocuments(readFileSync(testdata(textPath), 'utf8'), sel), tokenizer!, model.config.contextLength);
  const gm = await GpuModel.upload(rt, model);
  try {
    return await perplexity(gm, docs);
  } finally {
    gm.release();
  }
}

describe('document selection', () => {
  it('splits, strips, keeps pieces longer than N characters, skips K, takes M', () => {
    const text = 'aaaa\n\n  \n\nbb\n\ncccccc\n\ndddddddd\n\neeeeeee';
    expect(splitDocuments(text, { split: 'blank-lines' })).toEqual(['aaaa', 'bb', 'cccccc', 'dddddddd', 'eeeeeee']);
    expect(splitDocuments(text, { split: 'blank-lines', minChars: 4, skipDocs: 1, maxDocs: 2 })).toEqual(['dddddddd', 'eeeeeee']);
    expect(splitDocuments('x<|endoftext|> y <|endoftext|><|endoftext|>', { split: 'endoftext' })).toEqual(['x', 'y']);
  });
});

describe('perplexity against transformers', () => {
  it.each([
    ['stories260K sample', 'data/stories260K.bin', 'data/tinystories_sample.txt', SAMPLE, 3.5482019774885667, 1804],
    ['tinystories-mha sample', 'data/tinystories-mha.bin', 'data/tinystories_sample.txt', SAMPLE, 3.6811025442520835, 1242],
    ['demo sample (per byte)', 'data/demo/demo-mha-bytes.bin', 'data/demo/demo-stories.txt', SAMPLE, 1.6119103962470962, 61316],
  ] as const)('%s', { timeout: 600_000 }, async (_n, model, text, sel, want, tokens) => {
    const r = await ppl(model, text, sel);
    expect(r.tokens).toBe(tokens);
    expect(Math.abs(r.ppl - want)).toBeLessThan(0.002);
  });

  it.each([
    ['stories260K val150', 'data/stories260K.bin', 4.210635693032248, 14520],
    ['tinystories-mha val150', 'data/tinystories-mha.bin', 4.373763847671232, 14520],
    ['demo val150 (per byte)', 'data/demo/demo-mha-bytes.bin', 2.033502120488666, 30879],
  ] as const)('%s', { timeout: 600_000 }, async (_n, model, want, tokens) => {
    const r = await ppl(model, 'data/tinystories_val.txt', VAL150);
    expect(r.tokens).toBe(tokens);
    expect(Math.abs(r.ppl - want)).toBeLessThan(0.002);
  });
});
