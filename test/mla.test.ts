// Latent KV (MLA): the kernels it adds against float64 references, the conversion exact at full rank for every family the
// loaders read (GPU forward and float64 reference), budgets, rotary-pair choices, the factorisation, export and load back.
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu, poisoned as poisonedTensor } from './gpu-context';
import type { GpuRuntime } from '../src/gpu/runtime';
import { gatherColumns, rope } from '../src/gpu/kernels/transformer';
import { forwardRef, gatherColumnsRef, ropeRef } from '../src/reference/transformer';
import { randomArray, relativeError } from '../src/reference/linalg';
import { rotaryTables } from '../src/model/rotary';
import { NO_COLUMN, kvValuesPerToken, latentColumns } from '../src/model/latent';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import type { Model } from '../src/model/types';
import { kvBytesPerToken } from '../src/model/heads';
import { calibrationGrams } from '../src/analysis/calibration';
import { kvSpectrum, latentFactor, mlaConvert, mlaSizes, selectRopePairs } from '../src/fusion/mla';
import { exportFusedModel } from '../src/fusion/export';
import { GpuModel } from '../src/eval/gpuModel';
import { ForwardPass } from '../src/eval/forward';
import { seededRandom } from '../src/random';
import { fuse } from '../src/fusion/fuse';
import { presetRecipe } from '../src/fusion/recipe';
import { calibrationSequences, calibrationTokens } from '../src/analysis/calibration';
import { readFile } from 'node:fs/promises';
import { testdata } from './testdata';
import { modelAt, modelOf } from './models';
import { folder, gptNeoFiles, qwen2Files } from './synthetic';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});

const fromPath = modelAt;
const fromFiles = modelOf;

const FAMILIES: [string, () => Promise<Model>][] = [
  ['llama2.c (stories260K, GQA, interleaved rotary)', () => fromPath('data/stories260K.bin')],
  ['Llama MHA (rotate-half, untied)', () => fromPath('fixtures/hf/llama-mha')],
  ['Llama GQA (BF16 weights)', () => fromPath('fixtures/hf/llama-gqa-bf16')],
  ['Qwen2 (q/k/v biases, GQA)', () => fromFiles(qwen2Files())],
  ['GPT-2 (learned positions, biases)', () => fromPath('fixtures/hf/gpt2')],
  ['GPT-NeoX (partial rotary, parallel residual)', () => fromPath('fixtures/hf/gpt-neox')],
  ['GPT-Neo (local window, unscaled scores)', () => fromFiles(gptNeoFiles(16, 4))],
];

/** Random token sequences from position 0, enough tokens for a full-rank Gram. */
function randomSequences(model: Model, seed: number): number[][] {
  const c = model.config;
  const len = Math.min(c.contextLength, 40);
  const r = seededRandom(seed);
  const n = Math.ceil((3 * c.dim) / len) + 1;
  return Array.from({ length: n }, () => Array.from({ length: len }, () => Math.floor(r() * c.vocab)));
}

async function gpuLogits(model: Model, ids: number[]): Promise<Float32Array> {
  const gm = await GpuModel.upload(rt, model);
  const T = ids.length;
  const fp = await ForwardPass.create(gm, { batch: 1, chunk: T, cacheT: T });
  try {
    await fp.run(Uint32Array.from(ids), T, 0);
    return await fp.readLogits();
  } finally {
    fp.release();
    gm.release();
  }
}

describe('kernels of the latent layer', () => {
  it.each([
    [3, 5, 6, 6, 'half'],
    [2, 9, 3, 10, 'interleaved'],
    [1, 4, 7, 8, 'half'],
  ] as const)('masked rope: B %i, T %i, heads %i, rotDims %i (of head dim 12), %s', async (B, T, heads, rotDims, style) => {
    const dh = 12;
    const half = rotDims / 2;
    const pos0 = 3;
    const x = randomArray(B * T * heads * dh, 5);
    const keep = Uint32Array.from({ length: heads * half }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0));
    const tables = rotaryTables(pos0 + T, rotDims, 10000);
    for (const inverse of [false, true]) {
      const y = await poisonedTensor(rt, 'y', B * T * heads * dh);
      await rope(rt, await rt.tensor('x', x), await rt.tensor('cos', tables.cos), await rt.tensor('sin', tables.sin), y, {
        B,
        T,
        heads,
        headDim: dh,
        rotDims,
        pos0,
        yT: T,
        dstPos0: 0,
        style,
        inverse,
        keep: await rt.tensor('keep', keep),
      });
      const sin = inverse ? tables.sin.map((v) => -v) : tables.sin;
      const ref = ropeRef(x, B * T, heads, dh, rotDims, style, (r) => pos0 + (r % T), tables.cos, sin, keep);
      expect(relativeError(await rt.read(y), ref)).toBeLessThan(1e-6);
      // the masked pairs are copied exactly
      const out = await rt.read(y);
      expect(out[0]).toBe(keep[0] ? out[0] : x[0]);
    }
  });

  it.each([
    [5, 7, 11],
    [64, 3, 9],
    [130, 13, 4],
  ])('column placement: %i rows, %i columns into %i (unmapped columns untouched)', async (rows, xWidth, yWidth) => {
    const x = randomArray(rows * xWidth, 3);
    const map = Uint32Array.from({ length: yWidth }, (_, j) => (j % 3 === 1 ? NO_COLUMN : (j * 5) % xWidth));
    const y0 = randomArray(rows * yWidth, 4);
    const y = await rt.tensor('y', y0);
    await gatherColumns(rt, await rt.tensor('x', x), await rt.tensor('map', map), y, { rows, xWidth, yWidth });
    expect(relativeError(await rt.read(y), gatherColumnsRef(x, map, rows, xWidth, yWidth, y0))).toBe(0);
  });
});

describe('exact at full rank with every rotary pair kept', () => {
  it.each(FAMILIES)('%s', async (_name, load) => {
    const model = await load();
    const half = model.config.positional.kind === 'rotary' ? Math.floor((model.config.headDim * model.config.positional.fraction) / 2) : 0;
    const seqs = randomSequences(model, 3);
    const grams = await calibrationGrams(rt, model, seqs);
    const ids = seqs[0].slice(0, Math.min(17, seqs[0].length));
    const original = await gpuLogits(model, ids);
    const refOriginal = forwardRef(model, ids);
    for (const latentInit of ['weights', 'activations'] as const) {
      // every pair asked for, and (activations) the default: at the full budget it keeps every pair too
      const { model: mla, layers } = await mlaConvert(model, grams, { budget: 1, ...(latentInit === 'weights' ? { ropePairs: half } : {}), latentInit });
      expect(layers.every((l) => l.ropePairs === half && l.kept > 1 - 1e-9)).toBe(true);
      // float64 reference: the same function
      expect(relativeError(forwardRef(mla, ids), refOriginal), `${latentInit}: float64`).toBeLessThan(1e-6);
      // GPU: the latent path gives the original's logits to float32 precision
      expect(relativeError(await gpuLogits(mla, ids), original), `${latentInit}: GPU`).toBeLessThan(2e-5);
    }
  });

  it('a partial latent on the GPU matches the float64 reference of the same latent model, chunked against the cache too', async () => {
    const model = await fromPath('fixtures/hf/llama-mha');
    const seqs = randomSequences(model, 5);
    const { model: mla } = await mlaConvert(model, await calibrationGrams(rt, model, seqs), { budget: 0.5, ropePairs: 1 });
    const ids = seqs[1].slice(0, 13);
    const ref = forwardRef(mla, ids);
    expect(relativeError(await gpuLogits(mla, ids), ref)).toBeLessThan(2e-5);
    // two chunks of 6 and 7 against the latent cache
    const gm = await GpuModel.upload(rt, mla);
    const fp = await ForwardPass.create(gm, { batch: 1, chunk: 7, cacheT: 13 });
    await fp.run(Uint32Array.from(ids.slice(0, 6)), 6, 0);
    const first = await fp.readLogits();
    await fp.run(Uint32Array.from(ids.slice(6)), 7, 6);
    const second = await fp.readLogits();
    const both = new Float32Array(13 * model.config.vocab);
    both.set(first.subarray(0, 6 * model.config.vocab));
    both.set(second.subarray(0, 7 * model.config.vocab), 6 * model.config.vocab);
    expect(relativeError(both, ref)).toBeLessThan(2e-5);
    fp.release();
    gm.release();
  });
});

describe('the conversion', () => {
  it('the budget sets d_c and r: the cache holds d_c + 2r per K head values per layer, the share asked for', async () => {
    const model = await fromPath('data/tinystories-mha.bin'); // 8 heads × 16, 256 values per layer
    // by default the rotary dims take half the budget: 8 K heads × 2 pairs × 2 = 32 of 64 values, 64 of 128 at 50 %
    expect(mlaSizes(model, 0, 0.25)).toEqual({ rank: 32, ropePairs: 2, values: 64 });
    expect(mlaSizes(model, 0, 0.5)).toEqual({ rank: 64, ropePairs: 4, values: 128 });
    // the full budget keeps every pair and a latent as wide as the V rows: the exact model
    expect(mlaSizes(model, 0, 1)).toEqual({ rank: 128, ropePairs: 8, values: 256 });
    // at 6.25 % (16 values) even one pair per K head (16 dims) would take the whole budget: none is kept
    expect(mlaSizes(model, 0, 0.0625)).toEqual({ rank: 16, ropePairs: 0, values: 16 });
    expect(mlaSizes(model, 0, 0.25, 3)).toEqual({ rank: 16, ropePairs: 3, values: 64 });
    expect(() => mlaSizes(model, 0, 0.25, 4)).toThrow(/leave no room for a latent.*--rope-pairs/);
    expect(() => mlaSizes(model, 0, 0.25, 9)).toThrow(/from 0 to 8/);
    const small = await fromPath('data/stories260K.bin'); // 4 KV heads × 8: 64 values per layer
    expect(mlaSizes(small, 0, 0.25)).toEqual({ rank: 8, ropePairs: 1, values: 16 });
    expect(mlaSizes(small, 0, 0.5)).toEqual({ rank: 16, ropePairs: 2, values: 32 });
    expect(mlaSizes(small, 0, 1)).toEqual({ rank: 32, ropePairs: 4, values: 64 });
    const gpt2 = await fromPath('fixtures/hf/gpt2');
    expect(mlaSizes(gpt2, 0, 0.5).ropePairs).toBe(0);
    // what the model card and the budget report read
    const { model: mla } = await mlaConvert(model, null, { budget: 0.25, ropeSelect: 'uniform', latentInit: 'weights' });
    expect(kvValuesPerToken(mla.config, mla.layers[0])).toBe(64);
    expect(kvBytesPerToken(mla)).toBe(kvBytesPerToken(model) / 4);
  });

  it('rotary pairs: high, low, uniform, and the 2-norm choice picks the pairs with the most energy', async () => {
    const model = await fromPath('fixtures/hf/llama-mha');
    const half = model.config.headDim / 2;
    expect(selectRopePairs(model, 0, 2, 'high')[0]).toEqual([0, 1]);
    expect(selectRopePairs(model, 0, 2, 'low')[0]).toEqual([half - 2, half - 1]);
    expect(selectRopePairs(model, 0, 2, 'uniform')[0]).toEqual([0, half / 2]);
    // make pair 2 of K head 1 and of its query head dominant; the others small
    const m: Model = structuredClone(model);
    const { dim: D, headDim: dh } = m.config;
    const l = m.layers[0];
    for (const w of [l.attn.wq, l.attn.wk]) for (let i = 0; i < w.length; i++) w[i] *= 0.01;
    for (const d of [2, 2 + half]) for (let a = 0; a < D; a++) l.attn.wq[(1 * dh + d) * D + a] = l.attn.wk[(1 * dh + d) * D + a] = 1;
    const grams = await calibrationGrams(rt, m, randomSequences(m, 9));
    const pairs = selectRopePairs(m, 0, 1, 'norm', grams[0]);
    expect(pairs[1]).toEqual([2]);
    expect(() => selectRopePairs(m, 0, 1, 'norm')).toThrow(/calibration text/);
  });

  it('the factorisation keeps more energy at higher rank, and the activation-aware latent fits the calibration activations better', async () => {
    const model = await fromPath('data/stories260K.bin');
    const seqs = randomSequences(model, 2);
    const grams = await calibrationGrams(rt, model, seqs);
    const pairs = selectRopePairs(model, 1, 1, 'high');
    const kept = [4, 8, 16, 32].map((rank) => latentFactor(model, 1, pairs, rank).kept);
    for (let i = 1; i < kept.length; i++) expect(kept[i]).toBeGreaterThan(kept[i - 1]);
    // calibration error of the rebuilt keys (scaled by α) and values: Σ_rows (m − m̂) C (m − m̂)ᵀ, the objective the
    // activation-aware latent minimises, with α balancing key and value energy on the calibration text as it does
    const g = grams[1];
    const { dim: D, headDim: dh } = model.config;
    const l = model.layers[1];
    const quad = (row: ArrayLike<number>) => {
      let e = 0;
      for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) e += row[a] * g.gram[a * D + b] * row[b];
      return e;
    };
    const cols = latentColumns(model.config, latentFactor(model, 1, pairs, 8).latent);
    const kRows = cols.nope * l.kv.kHeads;
    const original = (i: number) =>
      i < kRows ? l.attn.wk.subarray(cols.nopeCols[i] * D, (cols.nopeCols[i] + 1) * D) : l.attn.wv.subarray((i - kRows) * D, (i - kRows + 1) * D);
    const n = kRows + l.kv.vHeads * dh;
    let eK = 0;
    let eV = 0;
    for (let i = 0; i < n; i++) {
      if (i < kRows) eK += quad(original(i));
      else eV += quad(original(i));
    }
    const alpha2 = eV / eK;
    const err = (f: ReturnType<typeof latentFactor>) => {
      const { rank, wuk, wuv, wdkv } = f.latent;
      let e = 0;
      for (let i = 0; i < n; i++) {
        const up = i < kRows ? wuk.subarray(i * rank, (i + 1) * rank) : wuv.subarray((i - kRows) * rank, (i - kRows + 1) * rank);
        const src = original(i);
        const diff = Array.from({ length: D }, (_, a) => src[a] - up.reduce((s, u, j) => s + u * wdkv[j * D + a], 0));
        e += (i < kRows ? alpha2 : 1) * quad(diff);
      }
      return e;
    };
    const byWeights = err(latentFactor(model, 1, pairs, 8));
    const byActivations = err(latentFactor(model, 1, pairs, 8, grams[1]));
    expect(byActivations).toBeLessThan(0.9 * byWeights);
    const spectrum = kvSpectrum(model, 1);
    expect(spectrum.length).toBe(2 * 4 * 8);
    expect(spectrum[0]).toBeGreaterThanOrEqual(spectrum[spectrum.length - 1]);
    expect(spectrum.slice(model.config.dim).every((s) => s < 1e-6 * spectrum[0])).toBe(true);
  });

  it('a latent model exports as headlab-mla, loads back with the same logits, and refuses to be merged or converted again', async () => {
    const model = await fromPath('fixtures/hf/llama-gqa-bf16');
    const seqs = randomSequences(model, 4);
    const { model: mla } = await mlaConvert(model, await calibrationGrams(rt, model, seqs), { budget: 0.5 });
    const files = exportFusedModel(mla, { experiment: { method: 'mla' } });
    const config = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'config.json')!.data));
    expect(config.model_type).toBe('headlab-mla');
    expect(config.latents.length).toBe(model.config.layers);
    expect(files.some((f) => f.name === 'model.bin')).toBe(false);
    const back = (await loadModelFiles(folder(Object.fromEntries(files.map((f) => [f.name, f.data]))))).model;
    expect(back.source.format).toBe('mla');
    const ids = seqs[0].slice(0, 9);
    expect(relativeError(forwardRef(back, ids), forwardRef(mla, ids))).toBe(0);
    await expect(mlaConvert(back, null, { budget: 0.5 })).rejects.toThrow(/caches a latent \(MLA\).*original checkpoint/);
  });
});

describe('recovery on the latent model', () => {
  it('fuse --method mla trains end to end toward the original like the other methods: held-out perplexity falls', async () => {
    const { files, primary } = await filesFromPath(testdata('data/stories260K.bin'));
    const loaded = await loadModelFiles(files, { primary });
    const text = await readFile(testdata('data/tinystories_sample.txt'), 'utf8');
    const docs = calibrationSequences(calibrationTokens(loaded.tokenizer!, text, 1200), 256);
    const r = await fuse(
      rt,
      loaded.model,
      {
        recipe: presetRecipe('mla', { training: true, fallback: true }),
        budget: 0.25,
        seed: 1,
        calibrationTokens: null,
        train: { steps: 6, lr: 3e-3, params: 'all', loss: 'kl', batch: 4, seqLen: 64, evalEvery: 6 },
      },
      { calibration: docs.slice(2), evalDocs: docs.slice(0, 2) },
    );
    expect(r.mla!.map((l) => [l.rank, l.ropePairs])).toEqual(Array(5).fill([8, 1]));
    expect(r.trainTokens).toBe(6 * 4 * 64);
    expect(r.curve.at(-1)!.tokens).toBe(6 * 4 * 64);
    expect(r.curve.at(-1)!.ppl!).toBeLessThan(0.9 * r.curve[0].ppl!);
    expect(r.model.layers.every((l) => l.latent && l.latent.rank === 8)).toBe(true);
  });
});
