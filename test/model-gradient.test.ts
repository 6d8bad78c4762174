// The whole model's gradient on the GPU (training forward, loss kernel, backward pass) against central finite differences
// of the float64 reference model, for every family the loaders read: sampled entries of every weight tensor, with a loss
// that mixes KL to a teacher and next-token cross-entropy so that both paths are differentiated.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../src/model/types';
import type { GpuRuntime } from '../src/gpu/runtime';
import { GpuModel } from '../src/eval/gpuModel';
import { ForwardPass } from '../src/eval/forward';
import { trainingLoss } from '../src/gpu/kernels/layerGrads';
import { NO_TARGET } from '../src/gpu/kernels/transformer';
import { allocateTrainables, weightArray } from '../src/train/params';
import { Backward } from '../src/train/backward';
import { modelLossRef } from '../src/reference/layerGrads';
import { forwardRef } from '../src/reference/transformer';
import { mergeHeads } from '../src/fusion/edit';
import { mlaConvert } from '../src/fusion/mla';
import { parameterCount } from '../src/model/heads';
import { seededRandom } from '../src/random';
import { gpu } from './gpu-context';
import { modelAt, modelOf } from './models';
import { gptNeoFiles, qwen2Files } from './synthetic';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});

const fromPath = modelAt;
const fromFiles = modelOf;

/** A DHA-format model: llama-mha with decoupled K and V groups (3 K heads, 2 V heads in layer 0). */
async function dhaModel(): Promise<Model> {
  const m = await fromPath('fixtures/hf/llama-mha');
  return mergeHeads(m, [
    {
      kGroups: [[0, 2], [1], [3]],
      vGroups: [
        [0, 1],
        [2, 3],
      ],
    },
    { kGroups: [[0, 1, 2, 3]], vGroups: [[3], [0, 2], [1]] },
  ]);
}

const CASES: [string, () => Promise<Model>][] = [
  ['llama2.c (stories260K, GQA, interleaved rotary, tied)', () => fromPath('data/stories260K.bin')],
  ['Llama MHA (rotate-half, untied)', () => fromPath('fixtures/hf/llama-mha')],
  ['Llama GQA (BF16 weights, tied)', () => fromPath('fixtures/hf/llama-gqa-bf16')],
  ['Qwen2 (q/k/v biases, GQA)', () => fromFiles(qwen2Files())],
  ['GPT-2 (LayerNorm, GELU tanh, learned positions, biases)', () => fromPath('fixtures/hf/gpt2')],
  ['GPT-NeoX (partial rotary, parallel residual, GELU erf)', () => fromPath('fixtures/hf/gpt-neox')],
  ['GPT-Neo (local window 4, unscaled scores)', () => fromFiles(gptNeoFiles(16, 4))],
  ['headlab DHA (decoupled K/V maps)', dhaModel],
  // latent KV: W_dkv, W_uk, W_kr, W_uv, the masked rotary and the column placement differentiated
  [
    'headlab MLA (Qwen2: k/v biases, GQA, 1 of 4 rotary pairs kept)',
    async () => (await mlaConvert(await fromFiles(qwen2Files()), null, { budget: 0.5, ropePairs: 1, ropeSelect: 'uniform', latentInit: 'weights' })).model,
  ],
  [
    'headlab MLA (GPT-2: no rotary, biases)',
    async () => (await mlaConvert(await fromPath('fixtures/hf/gpt2'), null, { budget: 0.5, latentInit: 'weights' })).model,
  ],
];

/** A copy of the model with every weight nudged, as a teacher whose logits differ. */
function perturbed(model: Model, seed: number): Model {
  const copy: Model = structuredClone(model);
  const r = seededRandom(seed);
  for (const l of copy.layers) for (const w of [l.attn.wq, l.attn.wk, l.mlp.up]) for (let i = 0; i < w.length; i++) w[i] += 0.05 * (r() - 0.5);
  return copy;
}

describe('whole-model gradient vs finite differences of the float64 reference', () => {
  it.each(CASES)('%s', async (_name, load) => {
    const model = await load();
    const B = 2;
    const T = 7;
    const V = model.config.vocab;
    const rand = seededRandom(7);
    const ids = Uint32Array.from({ length: B * T }, () => Math.floor(rand() * V));
    ids[3] = ids[1]; // a repeated token: its embedding row gathers two rows' gradients
    const targets = Uint32Array.from({ length: B * T }, (_, r) => (r % T === T - 1 ? NO_TARGET : ids[r + 1]));
    const teacherModel = perturbed(model, 3);
    const teacher = new Float64Array(B * T * V);
    for (let b = 0; b < B; b++) teacher.set(forwardRef(teacherModel, Array.from(ids.subarray(b * T, (b + 1) * T))), b * T * V);
    const klWeight = 0.6;
    const scored = targets.filter((x) => x !== NO_TARGET).length;

    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: B, chunk: T, cacheT: T, keep: true });
    const { trainables, grads, release } = await allocateTrainables(rt, gm, 'all');
    // every stored weight trains (a latent layer's W_dkv, W_uk, W_kr, W_uv included) and is checked below
    expect(trainables.reduce((n, t) => n + t.param.length, 0)).toBe(parameterCount(model));
    const bw = await Backward.create(fp, grads);
    await fp.run(ids, T, 0);
    const rowLoss = await rt.tensor('row loss', B * T);
    await trainingLoss(rt, fp.logits, await rt.tensor('teacher', Float32Array.from(teacher)), await rt.tensor('targets', targets), rowLoss, {
      rows: B * T,
      vocab: V,
      klWeight,
      scale: 1 / scored,
    });
    const gpuLoss = (await rt.read(rowLoss)).reduce((a, b) => a + b, 0) / scored;
    await bw.run();
    const loss = (m: Model) => modelLossRef(m, ids, T, teacher, targets, klWeight);
    expect(Math.abs(gpuLoss - loss(model)) / loss(model)).toBeLessThan(1e-5);

    // Sampled entries of every tensor: three random ones and the largest GPU gradient.
    const pick = seededRandom(11);
    const perTensor: { name: string; rows: { gpu: number; fd: number }[] }[] = [];
    for (const t of trainables) {
      const g = await rt.read(t.grad);
      const w = weightArray(model, t.name);
      let big = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[big])) big = i;
      const entries = [big, ...Array.from({ length: 3 }, () => Math.floor(pick() * g.length))];
      const rows: { gpu: number; fd: number }[] = [];
      for (const i of entries) {
        const orig = w[i];
        const h = 1e-3 * Math.max(1, Math.abs(orig));
        w[i] = Math.fround(orig + h);
        const up = w[i] - orig;
        const lp = loss(model);
        w[i] = Math.fround(orig - h);
        const down = w[i] - orig;
        const lm = loss(model);
        w[i] = orig;
        rows.push({ gpu: g[i], fd: (lp - lm) / (up - down) });
      }
      perTensor.push({ name: t.name, rows });
    }
    const all = perTensor.flatMap((t) => t.rows);
    const norm = Math.hypot(...all.map((r) => r.fd));
    expect(Math.hypot(...all.map((r) => r.gpu - r.fd)) / norm, 'all sampled entries').toBeLessThan(2e-4);
    // Per tensor, relative to its own size; a gradient that is zero in exact arithmetic (a key bias: softmax ignores a
    // shift of every score of a row) is measured against the whole model's.
    for (const t of perTensor) {
      const err = Math.hypot(...t.rows.map((r) => r.gpu - r.fd)) / Math.max(Math.hypot(...t.rows.map((r) => r.fd)), 1e-3 * norm);
      expect(err, t.name).toBeLessThan(2e-3);
    }
    bw.release();
    release();
    fp.release();
    gm.release();
  });
});

describe('the flash attention backward (GPUs) gives the gradients of the probabilities path (checked above)', () => {
  it.each(CASES)('%s', async (_name, load) => {
    const model = await load();
    const B = 2;
    const T = 70; // two key and query blocks of the flash kernels
    const V = model.config.vocab;
    const rand = seededRandom(5);
    const ids = Uint32Array.from({ length: B * T }, () => Math.floor(rand() * V));
    const cfg = model.config;
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: B, chunk: Math.min(T, cfg.contextLength), cacheT: Math.min(T, cfg.contextLength), keep: true });
    const t = fp.shape.chunk;
    const idsT = ids.subarray(0, B * t);
    const targetsT = Uint32Array.from({ length: B * t }, (_, r) => (r % t === t - 1 ? NO_TARGET : idsT[r + 1]));
    const gradsOf = async (flash: boolean) => {
      const { trainables, grads, release } = await allocateTrainables(rt, gm, 'all');
      const bw = await Backward.create(fp, grads, flash);
      await fp.run(idsT, t, 0);
      const rowLoss = await rt.tensor('row loss', B * t);
      await trainingLoss(rt, fp.logits, await rt.tensor('teacher', B * t * V), await rt.tensor('targets', targetsT), rowLoss, {
        rows: B * t,
        vocab: V,
        klWeight: 0,
        scale: 1 / (B * t),
      });
      try {
        await bw.run();
        return await Promise.all(trainables.map(async (x) => ({ name: x.name, g: await rt.read(x.grad) })));
      } finally {
        bw.release();
        release();
      }
    };
    try {
      const reference = await gradsOf(false);
      if (cfg.headDim % 4 !== 0) {
        await expect(gradsOf(true)).rejects.toThrow(/not divisible by 4/);
        return;
      }
      const flash = await gradsOf(true);
      // Per tensor, relative to its own size or, for a gradient that is zero in exact arithmetic (a key bias), the model's.
      const total = Math.hypot(...reference.map((r) => Math.hypot(...r.g)));
      for (const [i, r] of reference.entries()) {
        const diff = Math.hypot(...r.g.map((x, j) => flash[i].g[j] - x));
        expect(diff / Math.max(Math.hypot(...r.g), 1e-3 * total), r.name).toBeLessThan(1e-4);
      }
    } finally {
      fp.release();
      gm.release();
    }
  });
});
