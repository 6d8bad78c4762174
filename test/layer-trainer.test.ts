// Layer-local training of a fused model's attention against a float64 CPU reference: the loss, and its gradients with
// respect to every attention weight and bias, by central finite differences of the reference loss — on stories260K (GQA,
// interleaved rotary) and a Qwen2 layer (q/k/v biases, rotate-half). 'kv' trains the K/V projections only.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { gpu } from './gpu-context';
import { testdata } from './testdata';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { Model } from '../src/model/types';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { LayerTrainer, type AttentionWeight } from '../src/fusion/layerTrainer';
import { layerLossRef } from '../src/reference/training';
import { randomArray } from '../src/reference/linalg';
import { modelRotaryTables, rotaryDims, rotaryStyle } from '../src/model/rotary';
import { acquireRotary } from '../src/eval/rotary';
import { qwen2Files } from './synthetic';

let rt: GpuRuntime;
let stories: Model;
let qwen: Model;
beforeAll(async () => {
  rt = await gpu();
  const { files, primary } = await filesFromPath(testdata('data/stories260K.bin'));
  stories = (await loadModelFiles(files, { primary })).model;
  qwen = (await loadModelFiles(qwen2Files())).model;
});

const B = 2;
const T = 11;

function refConfig(m: Model) {
  const c = m.config;
  const rd = rotaryDims(c);
  const tab = modelRotaryTables(c, T);
  return { dim: c.dim, heads: c.heads, headDim: c.headDim, scale: c.attentionScale, window: 0, rotDims: rd, style: rotaryStyle(c), cos: tab.cos, sin: tab.sin };
}

/** A teacher layer's output for random inputs, and a student on a nudged copy of the layer (away from the optimum). */
async function setup(model: Model, layer: number, mode: 'kv' | 'attention', flash = false) {
  const R = B * T;
  const D = model.config.dim;
  const X = randomArray(R * D, 3, -2, 2);
  const Xt = await rt.tensor('X', X);
  const teacher = await LayerTrainer.create(rt, { model, layer, B, T, mode: 'frozen' });
  teacher.setInput(Xt);
  await teacher.forward();
  const target = await rt.read(teacher.output);
  const nudged: Model = {
    ...model,
    layers: model.layers.map((x, i) =>
      i !== layer
        ? x
        : {
            ...x,
            attn: Object.fromEntries(
              Object.entries(x.attn).map(([k, w]) => [k, w && Float32Array.from(w as Float32Array, (v, j) => v + 0.05 * Math.sin(j + k.length))]),
            ) as Model['layers'][number]['attn'],
          },
    ),
  };
  const student = await LayerTrainer.create(rt, { model: nudged, layer, B, T, mode, flash });
  student.setInput(Xt);
  await student.setTarget(await rt.tensor('target', target));
  return { X, target, teacher, student, nudged, Xt };
}

describe('layer trainer', () => {
  it('the frozen layer reproduces itself: a student on the same weights has loss ~0', async () => {
    const { Xt } = await setup(stories, 2, 'kv');
    const teacher = await LayerTrainer.create(rt, { model: stories, layer: 2, B, T, mode: 'frozen' });
    teacher.setInput(Xt);
    await teacher.forward();
    const student = await LayerTrainer.create(rt, { model: stories, layer: 2, B, T, mode: 'attention' });
    student.setInput(Xt);
    await student.setTarget(teacher.output);
    await student.forward();
    expect(await student.loss()).toBeLessThan(1e-10);
    expect(student.trainables.map((x) => x.name)).toEqual(['wq', 'wk', 'wv', 'wo']);
  });

  it("one upload of a model's rotary tables serves every layer trainer of the model and of its fused copy", async () => {
    const spy = vi.spyOn(rt, 'tensor');
    try {
      const { student, teacher } = await setup(stories, 1, 'attention');
      const more = [
        await LayerTrainer.create(rt, { model: stories, layer: 3, B, T, mode: 'frozen' }),
        await LayerTrainer.create(rt, { model: stories, layer: 4, B, T: 2 * T, mode: 'kv' }),
      ];
      const tables = spy.mock.calls.filter(([label]) => /(^| )(cos|sin)( |$)/.test(label));
      // none when an earlier test's trainers still hold them; otherwise one cos and one sin
      expect(tables.length).toBeLessThanOrEqual(2);
      [student, teacher, ...more].forEach((x) => x.release());
    } finally {
      spy.mockRestore();
    }
    // shared while held, uploaded again after the last holder lets go
    const c = { ...stories.config, contextLength: 77 };
    const a = await acquireRotary(rt, c, T);
    const b = await acquireRotary(rt, c, 40);
    expect(b.cos).toBe(a.cos);
    expect(b.sin).toBe(a.sin);
    a.release();
    b.release();
    const again = await acquireRotary(rt, c, T);
    expect(again.cos).not.toBe(a.cos);
    expect(await rt.read(again.cos)).toEqual(modelRotaryTables(c, 77).cos);
    again.release();
  });

  it.each([
    ['stories260K layer 2 (GQA, interleaved)', () => stories, 2, 'attention', false],
    ['Qwen2 layer 1 (q/k/v biases, rotate-half)', () => qwen, 1, 'attention', false],
    ['stories260K layer 4, K/V only', () => stories, 4, 'kv', false],
    // the flash forward and backward (GPUs' default), forced here on the CPU fallback
    ['flash: stories260K layer 2 (GQA, interleaved)', () => stories, 2, 'attention', true],
    ['flash: Qwen2 layer 1 (q/k/v biases, rotate-half)', () => qwen, 1, 'attention', true],
  ] as const)('%s: loss and gradients of every trained weight match float64 finite differences', async (_name, model, layer, mode, flash) => {
    const m = model();
    const { X, target, student, nudged } = await setup(m, layer, mode, flash);
    await student.forward();
    const gpuLoss = await student.loss();
    await student.backward();
    const cfg = refConfig(m);
    const l = nudged.layers[layer];
    const base = { ...l.attn, ...l.kv };
    const f = (name: AttentionWeight, w: Float64Array) => layerLossRef({ ...base, [name]: w }, cfg, X, target, B, T);
    const ref = layerLossRef(base, cfg, X, target, B, T);
    expect(Math.abs(gpuLoss - ref) / ref).toBeLessThan(1e-4);
    const trained = student.trainables.map((x) => x.name);
    expect(trained).toEqual(
      (['wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'bo'] as const).filter(
        (n) => l.attn[n] && (mode === 'attention' || n === 'wk' || n === 'wv' || n === 'bk' || n === 'bv'),
      ),
    );
    const h = 1e-5;
    for (const name of trained) {
      const g = await student.read(name, 'gradient');
      const w0 = Float64Array.from(l.attn[name]!);
      let maxErr = 0;
      let maxG = 0;
      for (const e of [0, 3, 17, Math.floor(w0.length / 2), w0.length - 1].filter((i) => i < w0.length)) {
        const p = Float64Array.from(w0);
        const q = Float64Array.from(w0);
        p[e] += h;
        q[e] -= h;
        const fd = (f(name, p) - f(name, q)) / (2 * h);
        maxErr = Math.max(maxErr, Math.abs(fd - g[e]));
        maxG = Math.max(maxG, Math.abs(fd));
      }
      expect(maxG, name).toBeGreaterThan(1e-6);
      expect(maxErr / maxG, name).toBeLessThan(2e-3);
    }
    // A step of Adam moves exactly the trained weights.
    const before = await student.read('wq');
    await student.step(1e-3);
    expect((await student.read('wq')).some((v, i) => v !== before[i])).toBe(mode === 'attention');
  });
});
