// The K/V spectrum view's arithmetic (src/analysis/spectrum.ts): cumulative energy, numerical rank and the width for a share,
// by hand and on real weights — where the share the curve reads at rank k is what the conversion's weight-only latent keeps.
import { describe, expect, it } from 'vitest';
import { cumulativeEnergy, numericalRank, widthFor } from '../src/analysis/spectrum';
import { kvSpectrum, latentFactor } from '../src/fusion/mla';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import type { Model } from '../src/model/types';
import { testdata } from './testdata';
import { fileURLToPath } from 'node:url';

async function load(path: string): Promise<Model> {
  const { files, primary } = await filesFromPath(path);
  return (await loadModelFiles(files, { primary })).model;
}

describe('cumulative energy', () => {
  it('shares of Σσ² by hand, in any order, with the width each share needs', () => {
    // σ = 3, 2, 1, 0: energies 9, 4, 1, 0 of 14
    expect(cumulativeEnergy([1, 3, 0, 2])).toEqual([0, 9 / 14, 13 / 14, 1, 1]);
    expect(widthFor([3, 2, 1, 0], 0.5)).toBe(1);
    expect(widthFor([3, 2, 1, 0], 0.9)).toBe(2);
    expect(widthFor([3, 2, 1, 0], 13 / 14)).toBe(2);
    expect(widthFor([3, 2, 1, 0], 1)).toBe(3);
    expect(numericalRank([3, 2, 1, 0])).toBe(3);
    expect(numericalRank([3, 2, 1e-9])).toBe(2);
    expect(cumulativeEnergy([0, 0])).toEqual([0, 1, 1]);
    expect(numericalRank([0, 0])).toBe(0);
  });

  it('on stories260K the curve at rank k is what the weight-only latent of width k keeps, and its reconstruction error is the rest', async () => {
    const model = await load(testdata('data/stories260K.bin'));
    const { dim: D, headDim: dh } = model.config;
    const layer = 2;
    const l = model.layers[layer];
    const spectrum = kvSpectrum(model, layer);
    const kept = cumulativeEnergy(spectrum);
    const noPairs = Array.from({ length: l.kv.kHeads }, () => [] as number[]);
    for (const rank of [4, 16, 40]) {
      const f = latentFactor(model, layer, noPairs, rank);
      expect(f.kept).toBeCloseTo(kept[rank], 9);
      // ‖[W_k ; W_v] − W_up W_dkv‖² / ‖[W_k ; W_v]‖² = 1 − kept[rank] (Eckart–Young), rows in the stack's order
      const kRows = l.kv.kHeads * dh;
      const rows = [
        ...Array.from({ length: kRows }, (_, i) => l.attn.wk.subarray(i * D, (i + 1) * D)),
        ...Array.from({ length: l.kv.vHeads * dh }, (_, i) => l.attn.wv.subarray(i * D, (i + 1) * D)),
      ];
      let err = 0;
      let total = 0;
      rows.forEach((row, i) => {
        const u = i < kRows ? f.latent.wuk.subarray(i * rank, (i + 1) * rank) : f.latent.wuv.subarray((i - kRows) * rank, (i - kRows + 1) * rank);
        for (let a = 0; a < D; a++) {
          let r = 0;
          for (let j = 0; j < rank; j++) r += u[j] * f.latent.wdkv[j * D + a];
          err += (row[a] - r) ** 2;
          total += row[a] ** 2;
        }
      });
      expect(err / total).toBeCloseTo(1 - kept[rank], 5);
    }
  });

  it('a stack taller than the model is wide has no more directions than the width (the built-in demo: 256 rows, width 128)', async () => {
    const demo = await load(fileURLToPath(new URL('../public/demo/demo-mha-bytes.bin', import.meta.url)));
    const spectrum = kvSpectrum(demo, 0);
    expect(spectrum).toHaveLength(2 * demo.config.heads * demo.config.headDim);
    expect(numericalRank(spectrum)).toBe(demo.config.dim);
    expect(cumulativeEnergy(spectrum)[demo.config.dim]).toBeCloseTo(1, 9);
    expect(widthFor(spectrum, 1)).toBeLessThanOrEqual(demo.config.dim);
  });
});
