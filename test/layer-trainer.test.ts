// Layer-local training of the fusion stages against a float64 CPU reference: the loss, and its gradients with respect to the
// fusion operators and to merged head weights, by central finite differences of the reference loss.
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu } from './gpu-context';
import { shared } from './shared';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { Model } from '../src/model/types';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { LayerTrainer } from '../src/fusion/layerTrainer';
import { layerLossRef } from '../src/reference/training';
import { randomArray } from '../src/reference/linalg';
import { rotaryDims, rotaryTables, invFreqRounding } from '../src/eval/rotary';

let rt: GpuRuntime;
let model: Model;
beforeAll(async () => {
  rt = await gpu();
  const { files, primary } = await filesFromPath(shared('data/stories260K.bin'));
  model = (await loadModelFiles(files, { primary })).model;
});

const B = 2;
const T = 11;
const LAYER = 2;

function refConfig(m: Model) {
  const c = m.config;
  const rd = rotaryDims(c);
  const tab = rotaryTables(T, rd, c.positional.kind === 'rotary' ? c.positional.theta : 10000, invFreqRounding(c));
  return { dim: c.dim, heads: c.heads, headDim: c.headDim, scale: c.attentionScale, window: 0, rotDims: rd, style: 'interleaved' as const, cos: tab.cos, sin: tab.sin };
}

function refLayer(m: Model, wk?: Float32Array | Float64Array, wv?: Float32Array | Float64Array) {
  const l = m.layers[LAYER];
  return { ...l.attn, wk: wk ?? l.attn.wk, wv: wv ?? l.attn.wv, ...l.kv };
}

async function setup(mode: 'operators' | 'weights', groups?: number[]) {
  const R = B * T;
  const D = model.config.dim;
  const X = randomArray(R * D, 3, -2, 2);
  const teacher = await LayerTrainer.create(rt, { model, layer: LAYER, B, T, mode: 'frozen' });
  const Xt = await rt.tensor('X', X);
  await teacher.setInput(Xt);
  await teacher.forward();
  const target = await rt.read(teacher.output);
  const student = await LayerTrainer.create(rt, { model, layer: LAYER, B, T, mode, kGroupOf: groups, vGroupOf: groups });
  await student.setInput(Xt);
  await student.setTarget(await rt.tensor('target', target));
  return { X, target, teacher, student };
}

describe('layer trainer', () => {
  it('identity operators reproduce the teacher (loss ~ 0)', async () => {
    const { student } = await setup('operators', [0, 0, 1, 1]);
    await student.forward();
    expect(await student.loss()).toBeLessThan(1e-10);
  });

  it('operators: loss and masked gradient match float64 finite differences', async () => {
    const groups = [0, 0, 1, 1];
    const { X, target, student } = await setup('operators', groups);
    const n = model.layers[LAYER].kv.kHeads;
    const mk = (seed: number) => Float32Array.from(randomArray(n * n, seed, -0.4, 0.4), (v, e) => (groups[Math.floor(e / n)] === groups[e % n] ? v + (Math.floor(e / n) === e % n ? 1 : 0) : 0));
    const oK = mk(11);
    const oV = mk(12);
    student.setOperators('k', oK);
    student.setOperators('v', oV);
    await student.forward();
    const gpuLoss = await student.loss();
    await student.backward();
    const gK = await student.gradient('k');
    const gV = await student.gradient('v');
    const cfg = refConfig(model);
    const f = (k: ArrayLike<number>, v: ArrayLike<number>) => layerLossRef(refLayer(model), cfg, X, target, B, T, k, v);
    const ref = f(oK, oV);
    expect(Math.abs(gpuLoss - ref) / ref).toBeLessThan(1e-4);
    const h = 1e-5;
    for (const [which, g, base] of [['k', gK, oK], ['v', gV, oV]] as const) {
      let maxErr = 0;
      let maxG = 0;
      for (let e = 0; e < n * n; e++) {
        const inGroup = groups[Math.floor(e / n)] === groups[e % n];
        if (!inGroup) {
          expect(Math.abs(g[e])).toBe(0);
          continue;
        }
        const p = Float64Array.from(base);
        const m = Float64Array.from(base);
        p[e] += h;
        m[e] -= h;
        const fd = which === 'k' ? (f(p, oV) - f(m, oV)) / (2 * h) : (f(oK, p) - f(oK, m)) / (2 * h);
        maxErr = Math.max(maxErr, Math.abs(fd - g[e]));
        maxG = Math.max(maxG, Math.abs(fd));
      }
      expect(maxG).toBeGreaterThan(1e-4);
      expect(maxErr / maxG).toBeLessThan(2e-3);
    }
  });

  it('weights: gradient of merged K/V weights matches float64 finite differences', async () => {
    const { X, target, student } = await setup('weights');
    const l = model.layers[LAYER];
    // Move away from the optimum so the gradient is not ~0.
    const wk = Float32Array.from(l.attn.wk, (v, i) => v + 0.05 * Math.sin(i));
    const wv = Float32Array.from(l.attn.wv, (v, i) => v + 0.05 * Math.cos(i));
    rt.upload(student.k.w, wk);
    rt.upload(student.v.w, wv);
    await student.forward();
    await student.loss();
    await student.backward();
    const gK = await student.gradient('k');
    const gV = await student.gradient('v');
    const cfg = refConfig(model);
    const f = (k: ArrayLike<number>, v: ArrayLike<number>) => layerLossRef(refLayer(model, Float64Array.from(k), Float64Array.from(v)), cfg, X, target, B, T, null, null);
    const h = 1e-5;
    for (const [which, g, base] of [['k', gK, wk], ['v', gV, wv]] as const) {
      let maxErr = 0;
      let maxG = 0;
      for (const e of [0, 7, 64, 130, 511, 700, base.length - 1]) {
        const p = Float64Array.from(base);
        const m = Float64Array.from(base);
        p[e] += h;
        m[e] -= h;
        const fd = which === 'k' ? (f(p, wv) - f(m, wv)) / (2 * h) : (f(wk, p) - f(wk, m)) / (2 * h);
        maxErr = Math.max(maxErr, Math.abs(fd - g[e]));
        maxG = Math.max(maxG, Math.abs(fd));
      }
      expect(maxG).toBeGreaterThan(1e-5);
      expect(maxErr / maxG).toBeLessThan(2e-3);
    }
  });
});
