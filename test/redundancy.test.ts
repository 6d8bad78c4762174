// Redundancy (merge loss) from Grams against a direct computation from stored head outputs in float64, on the CPU and with
// the cross-Grams on the GPU; stories260K expanded to MHA has a loss-free merge in every layer.
import { beforeAll, describe, expect, it } from 'vitest';
import { headInnerProducts, layerMergeLoss, mergeLoss } from '../src/analysis/redundancy';
import type { LayerGram } from '../src/analysis/calibration';
import { randomArray } from '../src/reference/linalg';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { expandToMha } from '../src/model/heads';
import type { Model } from '../src/model/types';
import { forwardRef } from '../src/reference/transformer';
import type { GpuRuntime } from '../src/gpu/runtime';
import { golden } from './golden';
import { gpu } from './gpu-context';
import { testdata } from './testdata';

const N = 40;
const D = 12;
const H = 5;
const dh = 3;

/** Random activations X [N, D], head weights [H·dh, D] with head 3 ≈ head 1 and head 4 = −head 0 + noise, biases. */
function problem(seed: number) {
  const x = Array.from(randomArray(N * D, seed, -2, 2));
  const w = randomArray(H * dh * D, seed + 1);
  const noise = randomArray(dh * D, seed + 2, -0.05, 0.05);
  for (let k = 0; k < dh * D; k++) {
    w[3 * dh * D + k] = w[1 * dh * D + k] + noise[k];
    w[4 * dh * D + k] = -w[k] + noise[k];
  }
  const b = randomArray(H * dh, seed + 3, -0.5, 0.5);
  const gram: LayerGram = { gram: new Float64Array(D * D), sum: new Float64Array(D), n: N };
  for (let t = 0; t < N; t++)
    for (let i = 0; i < D; i++) {
      gram.sum[i] += x[t * D + i];
      for (let j = 0; j < D; j++) gram.gram[i * D + j] += x[t * D + i] * x[t * D + j];
    }
  return { x, w, b, gram };
}

/** Y_h [N, dh] = X W_hᵀ + b_h, stored, in float64. */
function outputs(x: number[], w: Float32Array, b: Float32Array | undefined): number[][][] {
  return Array.from({ length: H }, (_, h) =>
    Array.from({ length: N }, (_, t) =>
      Array.from({ length: dh }, (_, a) => {
        let s = b ? b[h * dh + a] : 0;
        for (let k = 0; k < D; k++) s += x[t * D + k] * w[(h * dh + a) * D + k];
        return s;
      }),
    ),
  );
}

/** ‖Y − Y'‖² / ‖Y‖² for the stacked outputs when heads i and j are both replaced by their mean, computed directly. */
function directLoss(Y: number[][][], i: number, j: number): number {
  let lost = 0;
  let total = 0;
  Y.forEach((y, h) =>
    y.forEach((row, t) =>
      row.forEach((v, a) => {
        total += v * v;
        if (h === i || h === j) lost += (v - (Y[i][t][a] + Y[j][t][a]) / 2) ** 2;
      }),
    ),
  );
  return lost / total;
}

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});

describe('merge loss', () => {
  for (const withBias of [false, true]) {
    it(`from Grams equals replacing the pair by its mean in the stored outputs${withBias ? ', with biases' : ''}`, async () => {
      const { x, w, b, gram } = problem(withBias ? 11 : 5);
      const bias = withBias ? b : undefined;
      const Y = outputs(x, w, bias);
      const r = mergeLoss(await headInnerProducts(w, bias, H, dh, gram, D));
      for (let i = 0; i < H; i++)
        for (let j = 0; j < H; j++) {
          expect(r.pairLoss[i][j], `pair ${i},${j}`).toBeCloseTo(i === j ? 0 : directLoss(Y, i, j), 12);
        }
      const direct = Math.min(...Array.from({ length: H }, (_, i) => Array.from({ length: H }, (_, j) => (j > i ? directLoss(Y, i, j) : Infinity))).flat());
      expect(r.loss).toBeCloseTo(direct, 12);
      // heads 1 and 3 are near copies; head 4 ≈ −head 0 is the most *unlike* pair for a mean (it cancels), not a redundant one
      expect(r.pair).toEqual([1, 3]);
      expect(r.pairLoss[0][4]).toBeGreaterThan(r.pairLoss[0][1]);
      const energy = Y.map((y) => y.flat().reduce((s, v) => s + v * v, 0));
      const sum = energy.reduce((a, c) => a + c, 0);
      r.energy.forEach((e, h) => expect(e).toBeCloseTo(energy[h] / sum, 12));
    });
  }

  it('with the cross-Grams on the GPU (f32) agrees with float64 to 1e-5', async () => {
    const { w, b, gram } = problem(23);
    const cpu = mergeLoss(await headInnerProducts(w, b, H, dh, gram, D));
    const dev = mergeLoss(await headInnerProducts(w, b, H, dh, gram, D, rt));
    expect(dev.pair).toEqual(cpu.pair);
    for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) expect(Math.abs(dev.pairLoss[i][j] - cpu.pairLoss[i][j])).toBeLessThan(1e-5);
  });

  it('is 1/H for orthogonal heads of equal energy, 0 for a copied head, and null for one head', () => {
    expect(
      mergeLoss([
        [2, 0, 0, 0],
        [0, 2, 0, 0],
        [0, 0, 2, 0],
        [0, 0, 0, 2],
      ]).loss,
    ).toBeCloseTo(1 / 4, 15);
    const copied = mergeLoss([
      [2, 0.5, 2],
      [0.5, 1, 0.5],
      [2, 0.5, 2],
    ]);
    expect(copied.loss).toBe(0);
    expect(copied.pair).toEqual([0, 2]);
    expect(mergeLoss([[3]])).toMatchObject({ loss: null, pair: null, energy: [1] });
  });
});

describe('stories260K', () => {
  let stories: Model;
  let grams: LayerGram[];
  beforeAll(async () => {
    const { files, primary } = await filesFromPath(testdata('data/stories260K.bin'));
    stories = (await loadModelFiles(files, { primary })).model;
    const ids = Array.from((await golden(testdata('fixtures/stories260K-golden.safetensors'))).ids);
    grams = [];
    const Dm = stories.config.dim;
    forwardRef(stories, ids, (_l, x) => {
      const gram = new Float64Array(Dm * Dm);
      const sum = new Float64Array(Dm);
      const T = x.length / Dm;
      for (let t = 0; t < T; t++)
        for (let i = 0; i < Dm; i++) {
          sum[i] += x[t * Dm + i];
          for (let j = 0; j < Dm; j++) gram[i * Dm + j] += x[t * Dm + i] * x[t * Dm + j];
        }
      grams.push({ gram, sum, n: T });
    });
  });

  it('expanded to MHA, merging a repeated pair loses nothing in every layer; its own 4 KV heads do not', async () => {
    const mha = expandToMha(stories);
    for (let layer = 0; layer < stories.config.layers; layer++) {
      for (const proj of ['k', 'v'] as const) {
        const expanded = await layerMergeLoss(mha, layer, proj, grams[layer], rt);
        expect(expanded.loss, `layer ${layer} ${proj}`).toBeLessThan(1e-9);
        expect(expanded.pair![1] - expanded.pair![0]).toBe(1);
        expect(expanded.pair![0] % 2).toBe(0);
        const own = await layerMergeLoss(stories, layer, proj, grams[layer], rt);
        expect(own.pairLoss.length).toBe(4);
        expect(own.loss!, `layer ${layer} ${proj}`).toBeGreaterThan(0.01);
        // the repeated pairs of the expanded model lose what merging the original heads would, halved by twice the energy
        expect(expanded.pairLoss[0][2]).toBeCloseTo(own.pairLoss[0][1] / 2, 5);
      }
    }
  });
});
