// The float64 CPU reference forward pass against Hugging Face's golden logits: this checks our reading of every family
// (weights, rotary, norms, residuals) independently of the GPU.
import { describe, expect, it } from 'vitest';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { golden } from './golden';
import { forwardRef } from '../src/reference/transformer';
import { testdata } from './testdata';

describe('CPU reference forward vs transformers', () => {
  const cases: [string, string, string][] = [
    ...['gpt2', 'gpt2-f16', 'llama-mha', 'llama-gqa-bf16', 'llama-mha-sharded', 'gpt-neox'].map(
      (d) => [d, `fixtures/hf/${d}`, `fixtures/hf/${d}/golden.safetensors`] as [string, string, string],
    ),
    ['stories260K', 'data/stories260K.bin', 'fixtures/stories260K-golden.safetensors'],
    ['tinystories-mha', 'data/tinystories-mha.bin', 'fixtures/tinystories-mha-golden.safetensors'],
  ];
  it.each(cases)('%s', async (_name, modelPath, goldenPath) => {
    const { files, primary } = await filesFromPath(testdata(modelPath));
    const { model } = await loadModelFiles(files, { primary });
    const g = await golden(testdata(goldenPath));
    const [B, T] = g.idsShape;
    const V = g.logitsShape[2];
    let maxAbs = 0;
    let maxDiff = 0;
    for (let b = 0; b < B; b++) {
      const logits = forwardRef(model, Array.from(g.ids.subarray(b * T, (b + 1) * T)));
      for (let i = 0; i < T * V; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(g.logits[b * T * V + i]));
        maxDiff = Math.max(maxDiff, Math.abs(logits[i] - g.logits[b * T * V + i]));
      }
    }
    expect(maxDiff / maxAbs).toBeLessThan(1e-4);
  });
});
