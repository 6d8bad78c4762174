// Head similarity: Grams from the GPU calibration pass, the three metrics, and the invariances the issue names.
import { beforeAll, describe, expect, it } from 'vitest';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { expandToMha } from '../src/model/heads';
import type { Model } from '../src/model/types';
import { GpuModel } from '../src/eval/gpuModel';
import { calibrate, calibrationTokens, type LayerGram } from '../src/analysis/calibration';
import { readFileSync } from 'node:fs';
import { Llama2cTokenizer } from '../src/model/tokenizer';
import { headSimilarity, nuclearNorm, stackedCrossGram, symmetricEigenvalues, METRICS } from '../src/analysis/similarity';
import { rotaryPlanes } from '../src/model/rotary';
import { forwardRef } from '../src/reference/transformer';
import { randomArray, relativeError } from '../src/reference/linalg';
import type { GpuRuntime } from '../src/gpu/runtime';
import { golden } from './golden';
import { gpu } from './gpu-context';
import { testdata } from './testdata';

let rt: GpuRuntime;
let stories: Model;
let ids: number[];
beforeAll(async () => {
  rt = await gpu();
  const { files, primary } = await filesFromPath(testdata('data/stories260K.bin'));
  stories = (await loadModelFiles(files, { primary })).model;
  ids = Array.from((await golden(testdata('fixtures/stories260K-golden.safetensors'))).ids);
});

/** XᵀX and column sums of each layer's attention input, from the float64 CPU reference forward. */
function cpuGrams(model: Model, seq: number[]): LayerGram[] {
  const D = model.config.dim;
  const out: LayerGram[] = [];
  forwardRef(model, seq, (_l, x) => {
    const T = x.length / D;
    const gram = new Float64Array(D * D);
    const sum = new Float64Array(D);
    for (let t = 0; t < T; t++)
      for (let i = 0; i < D; i++) {
        sum[i] += x[t * D + i];
        for (let j = 0; j < D; j++) gram[i * D + j] += x[t * D + i] * x[t * D + j];
      }
    out.push({ gram, sum, n: T });
  });
  return out;
}

describe('linear algebra', () => {
  it('Jacobi eigenvalues and nuclear norms', () => {
    const eig = [...symmetricEigenvalues(Float64Array.from([2, 1, 0, 1, 2, 0, 0, 0, 5]), 3)].sort((a, b) => a - b);
    expect(eig[0]).toBeCloseTo(1, 12);
    expect(eig[1]).toBeCloseTo(3, 12);
    expect(eig[2]).toBeCloseTo(5, 12);
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    expect(nuclearNorm(Float64Array.from([c, -s, s, c]), 2)).toBeCloseTo(2, 12); // a rotation: singular values 1, 1
    expect(nuclearNorm(Float64Array.from([3, 0, 0, -4]), 2)).toBeCloseTo(7, 12);
  });

  it('stacked cross-Grams W C Wᵀ on the GPU match the CPU', async () => {
    const D = 33;
    const w = randomArray(3 * 7 * D, 1);
    const x = randomArray(50 * D, 2);
    const C = new Float64Array(D * D);
    for (let t = 0; t < 50; t++) for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) C[i * D + j] += x[t * D + i] * x[t * D + j];
    expect(relativeError(await stackedCrossGram(w, C, D, rt), await stackedCrossGram(w, C, D))).toBeLessThan(1e-5);
  });
});

describe('calibration', () => {
  it('takes the first N tokens document by document, each starting with BOS, also from a long text', () => {
    const tok = Llama2cTokenizer.parse(readFileSync(testdata('data/tok512.bin')).buffer as ArrayBuffer, 512, 'tok512.bin');
    const text = readFileSync(testdata('data/tinystories_val.txt'), 'utf8'); // 794 kB
    // (encoding the whole text at once would not finish within the test's timeout: llama2.c merging is quadratic)
    const ids = calibrationTokens(tok, text, 3000);
    expect(ids).toHaveLength(3000);
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 1).length).toBeGreaterThan(3);
  });

  it('the GPU Grams of every layer equal XᵀX of the reference activations', async () => {
    const gm = await GpuModel.upload(rt, stories);
    const grams = await calibrate(gm, [ids.slice(0, 30), ids.slice(30)]);
    gm.release();
    const ref = [cpuGrams(stories, ids.slice(0, 30)), cpuGrams(stories, ids.slice(30))];
    grams.forEach((g, l) => {
      expect(g.n).toBe(ids.length);
      const gram = ref[0][l].gram.map((v, i) => v + ref[1][l].gram[i]);
      const sum = ref[0][l].sum.map((v, i) => v + ref[1][l].sum[i]);
      expect(relativeError(g.gram, gram)).toBeLessThan(1e-5);
      expect(relativeError(g.sum, sum)).toBeLessThan(1e-5);
    });
  });
});

describe('metrics', () => {
  it('CKA from Grams equals CKA from stored activations', async () => {
    const [g] = cpuGrams(stories, ids);
    const D = 64;
    const dh = 8;
    const acts: number[][][] = [];
    forwardRef(stories, ids, (l, x) => {
      if (l !== 0) return;
      for (let h = 0; h < 4; h++) {
        const w = stories.layers[0].attn.wk.subarray(h * dh * D, (h + 1) * dh * D);
        const y = Array.from({ length: ids.length }, (_, t) =>
          Array.from({ length: dh }, (_, a) => {
            let s = 0;
            for (let k = 0; k < D; k++) s += x[t * D + k] * w[a * D + k];
            return s;
          }),
        );
        const mean = Array.from({ length: dh }, (_, a) => y.reduce((s, r) => s + r[a], 0) / y.length);
        acts.push(y.map((r) => r.map((v, a) => v - mean[a])));
      }
    });
    const cross = (a: number[][], b: number[][]) => {
      let f = 0;
      for (let i = 0; i < dh; i++) for (let j = 0; j < dh; j++) f += a.reduce((s, r, t) => s + r[i] * b[t][j], 0) ** 2;
      return f;
    };
    const cka = await headSimilarity(stories, 0, 'k', 'cka', g);
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) {
        const direct = cross(acts[i], acts[j]) / Math.sqrt(cross(acts[i], acts[i]) * cross(acts[j], acts[j]));
        expect(cka[i][j]).toBeCloseTo(direct, 9);
      }
  });

  it('the aligned K metric ignores a rotation of a head within its rotary planes, and so do the logits', async () => {
    const grams = cpuGrams(stories, ids);
    const before = await headSimilarity(stories, 1, 'k', 'aligned', grams[1]);
    // rotate K head 2 of layer 1, and the query heads that read it, by one angle per plane (RoPE commutes with it)
    const rotated: Model = structuredClone(stories);
    rotated.lmHead = rotated.embed;
    const l = rotated.layers[1];
    const D = 64;
    const dh = 8;
    const angles = randomArray(dh / 2, 9, -3, 3);
    const rotateRows = (w: Float32Array, head: number) => {
      for (const [p, [a, b]] of rotaryPlanes(stories).entries()) {
        const c = Math.cos(angles[p]);
        const s = Math.sin(angles[p]);
        for (let k = 0; k < D; k++) {
          const ra = w[(head * dh + a) * D + k];
          const rb = w[(head * dh + b) * D + k];
          w[(head * dh + a) * D + k] = c * ra - s * rb;
          w[(head * dh + b) * D + k] = s * ra + c * rb;
        }
      }
    };
    rotateRows(l.attn.wk, 2);
    l.kv.kHeadOf.forEach((k, h) => k === 2 && rotateRows(l.attn.wq, h));
    const after = await headSimilarity(rotated, 1, 'k', 'aligned', cpuGrams(rotated, ids)[1]);
    // (the rotated weights are rounded to f32, hence 1e-7 rather than 1e-12)
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(after[i][j]).toBeCloseTo(before[i][j], 7);
    // weight cosine does change: the rotation is invisible only to the aligned metric
    const cosBefore = await headSimilarity(stories, 1, 'k', 'weight-cosine');
    const cosAfter = await headSimilarity(rotated, 1, 'k', 'weight-cosine');
    expect(Math.abs(cosAfter[2][1] - cosBefore[2][1])).toBeGreaterThan(1e-3);
    expect(relativeError(forwardRef(rotated, ids), forwardRef(stories, ids))).toBeLessThan(1e-6);
  });

  it('stories260K expanded to MHA: repeated heads score 1 in every metric, on the GPU calibration', async () => {
    const mha = expandToMha(stories);
    const gm = await GpuModel.upload(rt, mha);
    const grams = await calibrate(gm, [ids]);
    gm.release();
    for (const metric of METRICS) {
      for (const proj of ['k', 'v'] as const) {
        for (let layer = 0; layer < 5; layer++) {
          const m = await headSimilarity(mha, layer, proj, metric, grams[layer], rt);
          expect(m.length).toBe(8);
          for (let h = 0; h < 8; h += 2) expect(m[h][h + 1], `${metric} ${proj} layer ${layer} heads ${h},${h + 1}`).toBeCloseTo(1, 4);
          for (let h = 0; h < 8; h++) expect(m[h][h]).toBeCloseTo(1, 4);
          expect(m[0][2]).toBeLessThan(0.999);
        }
      }
    }
  });
});

describe('export', () => {
  it('writes JSON in the CLI shape and CSV with one row per ordered head pair', async () => {
    const { similarityCsv, similarityJson } = await import('../src/analysis/export');
    const e = {
      metric: 'cka',
      model: 'm',
      tokens: 10,
      layers: [
        {
          k: [
            [1, 0.5],
            [0.5, 1],
          ],
          v: [
            [1, 0.25],
            [0.25, 1],
          ],
        },
      ],
    };
    expect(JSON.parse(similarityJson(e))).toEqual(e);
    const csv = similarityCsv(e).trim().split('\n');
    expect(csv[0]).toBe('layer,kind,head_i,head_j,value');
    expect(csv).toHaveLength(1 + 8);
    expect(csv[2]).toBe('0,K,0,1,0.500000');
    expect(csv[6]).toBe('0,V,0,1,0.250000');
  });
});

describe('export with Q heads and redundancy', () => {
  it('JSON keeps the Q matrices and the K/V redundancy; CSV adds Q rows after K and V', async () => {
    const { similarityCsv, similarityJson } = await import('../src/analysis/export');
    const e = {
      metric: 'aligned',
      model: 'm',
      tokens: 10,
      layers: [
        {
          q: [
            [1, 0.75, 0.5],
            [0.75, 1, 0.25],
            [0.5, 0.25, 1],
          ],
          k: [
            [1, 0.5],
            [0.5, 1],
          ],
          v: [
            [1, 0.25],
            [0.25, 1],
          ],
          redundancy: { k: { loss: 0.125, pair: [0, 1] as [number, number] }, v: { loss: 0.25, pair: [0, 1] as [number, number] } },
        },
      ],
    };
    expect(JSON.parse(similarityJson(e))).toEqual(e);
    const csv = similarityCsv(e).trim().split('\n');
    expect(csv).toHaveLength(1 + 4 + 4 + 9);
    expect(csv[9]).toBe('0,Q,0,0,1.000000');
    expect(csv[10]).toBe('0,Q,0,1,0.750000');
    expect(csv[16]).toBe('0,Q,2,1,0.250000');
    expect(csv[17]).toBe('0,Q,2,2,1.000000');
  });
});
