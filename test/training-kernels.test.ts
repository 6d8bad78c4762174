// The attention training kernels against their float64 CPU references on awkward sizes (odd T, head dims, GQA and
// DHA-like maps, windows), outputs poisoned with NaN first.
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu, poisoned as poisonedTensor } from './gpu-context';
import type { GpuRuntime, GpuTensor } from '../src/gpu/runtime';
import {
  adamStep,
  attentionBackwardFlash,
  attentionContext,
  attentionKeysGrad,
  flashGradScratch,
  attentionProbs,
  attentionQueriesGrad,
  attentionScoresGrad,
  attentionValuesGrad,
  type AttnGradShape,
} from '../src/gpu/kernels/training';
import { adamRef, contextRef, dkeysRef, dqueriesRef, dscoresRef, dvaluesRef, probsRef } from '../src/reference/training';
import { randomArray, relativeError } from '../src/reference/linalg';

const TOL = 2e-5;
let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});
const poisoned = (label: string, n: number): Promise<GpuTensor> => poisonedTensor(rt, label, n);

describe('attention forward and backward through head maps', () => {
  it.each([
    ['MHA', { B: 2, T: 13, heads: 3, kHeads: 3, vHeads: 3, dh: 5, window: 0, scale: 1 / Math.sqrt(5) }, [0, 1, 2], [0, 1, 2]],
    ['GQA', { B: 1, T: 37, heads: 4, kHeads: 2, vHeads: 2, dh: 8, window: 0, scale: 0.35 }, [0, 0, 1, 1], [0, 0, 1, 1]],
    ['DHA maps + window', { B: 3, T: 9, heads: 5, kHeads: 2, vHeads: 3, dh: 3, window: 4, scale: 1 }, [1, 0, 1, 1, 0], [2, 2, 0, 1, 0]],
  ] as const)('%s', async (_name, shape, kMap, vMap) => {
    const s: AttnGradShape = { ...shape };
    const { B, T, heads: H, kHeads: K, vHeads: V, dh } = s;
    const q = randomArray(B * T * H * dh, 1);
    const k = randomArray(B * T * K * dh, 2);
    const v = randomArray(B * T * V * dh, 3);
    const dA = randomArray(B * T * H * dh, 4);
    const maps = Uint32Array.from([...kMap, ...vMap]);
    const tq = await rt.tensor('q', q);
    const tk = await rt.tensor('k', k);
    const tv = await rt.tensor('v', v);
    const tdA = await rt.tensor('dA', dA);
    const tm = await rt.tensor('maps', maps);
    const P = await poisoned('P', B * H * T * T);
    const a = await poisoned('a', B * T * H * dh);
    const dS = await poisoned('dS', B * H * T * T);
    const dK = await poisoned('dK', B * T * K * dh);
    const dV = await poisoned('dV', B * T * V * dh);
    const dQ = await poisoned('dQ', B * T * H * dh);
    await attentionProbs(rt, tq, tk, tm, P, s);
    await attentionContext(rt, P, tv, tm, a, s);
    await attentionScoresGrad(rt, P, tdA, tv, tm, dS, s);
    await attentionKeysGrad(rt, dS, tq, tm, dK, s);
    await attentionValuesGrad(rt, P, tdA, tm, dV, s);
    await attentionQueriesGrad(rt, dS, tk, tm, dQ, s);
    // Each stage is compared given the GPU's own inputs, and end to end.
    const Pg = await rt.read(P);
    const Pr = probsRef(q, k, maps, s);
    expect(relativeError(Pg, Pr)).toBeLessThan(TOL);
    expect(relativeError(await rt.read(a), contextRef(Pr, v, maps, s))).toBeLessThan(TOL);
    const dSr = dscoresRef(Pr, dA, v, maps, s);
    expect(relativeError(await rt.read(dS), dSr)).toBeLessThan(TOL);
    expect(relativeError(await rt.read(dK), dkeysRef(dSr, q, maps, s))).toBeLessThan(TOL);
    expect(relativeError(await rt.read(dV), dvaluesRef(Pr, dA, maps, s))).toBeLessThan(TOL);
    expect(relativeError(await rt.read(dQ), dqueriesRef(dSr, k, maps, s))).toBeLessThan(TOL);
    // Rows sum to one; masked entries are exactly zero.
    for (let r = 0; r < B * H * T; r++) {
      const tqi = r % T;
      let sum = 0;
      for (let j = 0; j < T; j++) {
        const masked = j > tqi || (s.window > 0 && j <= tqi - s.window);
        if (masked) expect(Pg[r * T + j]).toBe(0);
        sum += Pg[r * T + j];
      }
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
    }
  });
});

describe('attention backward without the T × T probabilities (flash)', () => {
  // Several key and query blocks (64) and tiles (BT = 64 at dh 4, 30 at dh 64, 7 at dh 256), DHA maps, windows across tiles.
  it.each([
    ['MHA, one block', { B: 2, T: 13, heads: 3, kHeads: 3, vHeads: 3, dh: 8, window: 0, scale: 1 / Math.sqrt(8) }, [0, 1, 2], [0, 1, 2]],
    ['DHA maps, blocks and tiles', { B: 1, T: 131, heads: 4, kHeads: 2, vHeads: 3, dh: 64, window: 0, scale: 0.125 }, [1, 0, 0, 1], [2, 2, 0, 1]],
    ['window across tiles', { B: 2, T: 70, heads: 2, kHeads: 1, vHeads: 2, dh: 4, window: 33, scale: 0.7 }, [0, 0], [1, 0]],
    ['head dim 256', { B: 1, T: 19, heads: 2, kHeads: 1, vHeads: 1, dh: 256, window: 5, scale: 1 / 16 }, [0, 0], [0, 0]],
  ] as const)('%s', async (_name, shape, kMap, vMap) => {
    const s: AttnGradShape = { ...shape };
    const { B, T, heads: H, kHeads: K, vHeads: V, dh } = s;
    const q = randomArray(B * T * H * dh, 11, -1, 1);
    const k = randomArray(B * T * K * dh, 12, -1, 1);
    const v = randomArray(B * T * V * dh, 13);
    const dA = randomArray(B * T * H * dh, 14);
    const maps = Uint32Array.from([...kMap, ...vMap]);
    const Pr = probsRef(q, k, maps, s);
    const aRef = contextRef(Pr, v, maps, s);
    const dSr = dscoresRef(Pr, dA, v, maps, s);
    const x = {
      q: await rt.tensor('q', q),
      k: await rt.tensor('k', k),
      v: await rt.tensor('v', v),
      a: await rt.tensor('a', Float32Array.from(aRef)),
      dA: await rt.tensor('dA', dA),
      maps: await rt.tensor('maps', maps),
    };
    const grads = { dq: await poisoned('dQ', B * T * H * dh), dk: await poisoned('dK', B * T * K * dh), dv: await poisoned('dV', B * T * V * dh) };
    const n = flashGradScratch(s);
    const scratch = { lse: await poisoned('lse', n.lse), dKh: await poisoned('dKh', n.dKh), dVh: await poisoned('dVh', n.dVh) };
    await attentionBackwardFlash(rt, x, grads, scratch, s);
    expect(relativeError(await rt.read(grads.dq), dqueriesRef(dSr, k, maps, s))).toBeLessThan(TOL);
    expect(relativeError(await rt.read(grads.dk), dkeysRef(dSr, q, maps, s))).toBeLessThan(TOL);
    expect(relativeError(await rt.read(grads.dv), dvaluesRef(Pr, dA, maps, s))).toBeLessThan(TOL);
  });

  it('refuses a head dim it cannot hold in vec4 rows', async () => {
    const s: AttnGradShape = { B: 1, T: 3, heads: 1, kHeads: 1, vHeads: 1, dh: 6, window: 0, scale: 1 };
    const t = await rt.tensor('t', 64);
    await expect(
      attentionBackwardFlash(rt, { q: t, k: t, v: t, a: t, dA: t, maps: t }, { dq: t, dk: t, dv: t }, { lse: t, dKh: t, dVh: t }, s),
    ).rejects.toThrow(/head dim 6 is not divisible by 4/);
  });
});

describe('Adam', () => {
  it('three steps match the reference (n = 1001)', async () => {
    const n = 1001;
    let theta = Float64Array.from(randomArray(n, 10));
    let m = new Float64Array(n);
    let v = new Float64Array(n);
    const tt = await rt.tensor('theta', Float32Array.from(theta));
    const st = { m: await rt.tensor('m', n), v: await rt.tensor('v', n), t: 0 };
    rt.fill(st.m, 0);
    rt.fill(st.v, 0);
    for (let step = 1; step <= 3; step++) {
      const g = randomArray(n, 20 + step);
      await adamStep(rt, tt, await rt.tensor('g', g), st, { lr: 0.01 });
      ({ theta, m, v } = adamRef(theta, g, m, v, step, { lr: 0.01 }));
    }
    expect(st.t).toBe(3);
    expect(relativeError(await rt.read(tt), theta)).toBeLessThan(TOL);
    expect(relativeError(await rt.read(st.m), m)).toBeLessThan(TOL);
  });
});
