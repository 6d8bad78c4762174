// End-to-end training kernels against their float64 CPU references on awkward sizes: norm backward (both kernels, both
// norms), activation backward, the losses, column sums, the embedding backward, AdamW with global-norm clipping.
// Outputs that a kernel writes are poisoned with NaN first; outputs it accumulates into start from random values.
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu, poisoned as poisonedTensor } from './gpu-context';
import type { GpuRuntime, GpuTensor } from '../src/gpu/runtime';
import {
  columnSum,
  embeddingGrad,
  geluGrad,
  normBackward,
  normGainGrad,
  positionGrad,
  swigluGrad,
  tokenRows,
  trainingLoss,
} from '../src/gpu/kernels/layerGrads';
import { adamwStep, clipScale, sumSquares } from '../src/gpu/kernels/optimizer';
import { NO_TARGET, type RowVariant } from '../src/gpu/kernels/transformer';
import { adamwRef, embeddingGradRef, geluGradRef, lossRef, normBackwardRef, positionGradRef, swigluGradRef } from '../src/reference/layerGrads';
import { randomArray, relativeError } from '../src/reference/linalg';

const TOL = 2e-5;
let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});
const poisoned = (label: string, n: number): Promise<GpuTensor> => poisonedTensor(rt, label, n);
const plus = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(b, (v, i) => a[i] + v);

describe('norm backward', () => {
  for (const variant of ['workgroup', 'rows'] as RowVariant[]) {
    for (const kind of ['rmsnorm', 'layernorm'] as const) {
      it.each([
        [7, 37, false],
        [3, 200, true],
        [1, 3, false],
      ] as const)(`${kind} (${variant}): rows %i, dim %i, accumulate %s`, async (rows, dim, accumulate) => {
        const x = randomArray(rows * dim, rows + dim, -2, 2);
        const w = randomArray(dim, 3);
        const dy = randomArray(rows * dim, 4);
        const dx0 = randomArray(rows * dim, 5);
        const dw0 = randomArray(dim, 6);
        const dx = accumulate ? await rt.tensor('dx', dx0) : await poisoned('dx', rows * dim);
        const stats = await poisoned('stats', 2 * rows);
        const dw = await rt.tensor('dw', dw0);
        const tx = await rt.tensor('x', x);
        const tdy = await rt.tensor('dy', dy);
        const s = { rows, dim, eps: 1e-5 };
        await normBackward(rt, kind, tx, await rt.tensor('w', w), tdy, dx, stats, { ...s, accumulate }, variant);
        await normGainGrad(rt, tx, tdy, stats, dw, s);
        const ref = normBackwardRef(kind, x, w, dy, rows, dim, 1e-5);
        expect(relativeError(await rt.read(dx), accumulate ? plus(dx0, ref.dx) : ref.dx)).toBeLessThan(TOL);
        expect(relativeError(await rt.read(dw), plus(dw0, ref.dw))).toBeLessThan(TOL);
      });
    }
  }
});

describe('activation backward', () => {
  it('SwiGLU (n = 1003)', async () => {
    const n = 1003;
    const g = randomArray(n, 1, -6, 6);
    const u = randomArray(n, 2);
    const da = randomArray(n, 3);
    const dg = await poisoned('dg', n);
    const du = await poisoned('du', n);
    await swigluGrad(rt, await rt.tensor('g', g), await rt.tensor('u', u), await rt.tensor('da', da), dg, du, n);
    const ref = swigluGradRef(g, u, da);
    expect(relativeError(await rt.read(dg), ref.dg)).toBeLessThan(TOL);
    expect(relativeError(await rt.read(du), ref.du)).toBeLessThan(TOL);
  });
  it.each(['gelu_tanh', 'gelu_erf'] as const)('%s (n = 517, inputs in [−8, 8])', async (kind) => {
    const n = 517;
    const u = randomArray(n, 4, -8, 8);
    const da = randomArray(n, 5);
    const du = await poisoned('du', n);
    await geluGrad(rt, kind, await rt.tensor('u', u), await rt.tensor('da', da), du, n);
    expect(relativeError(await rt.read(du), geluGradRef(kind, u, da))).toBeLessThan(TOL);
  });
});

describe('training loss', () => {
  for (const variant of ['workgroup', 'rows'] as RowVariant[]) {
    it.each([
      [5, 301, 1],
      [4, 1030, 0],
      [3, 7, 0.35],
    ] as const)(`${variant}: rows %i, vocab %i, KL weight %s`, async (rows, vocab, klWeight) => {
      const logits = randomArray(rows * vocab, rows + vocab, -4, 4);
      const teacher = randomArray(rows * vocab, 9, -4, 4);
      const targets = Uint32Array.from({ length: rows }, (_, r) => (r === 1 ? NO_TARGET : (r * 37) % vocab));
      const tl = await rt.tensor('logits', logits);
      const loss = await poisoned('row loss', rows);
      const scale = 1 / (rows - 1);
      await trainingLoss(
        rt,
        tl,
        klWeight > 0 ? await rt.tensor('teacher', teacher) : null,
        await rt.tensor('targets', targets),
        loss,
        { rows, vocab, klWeight, scale },
        variant,
      );
      const ref = lossRef(logits, teacher, targets, rows, vocab, klWeight, scale);
      expect(relativeError(await rt.read(loss), ref.rowLoss)).toBeLessThan(TOL);
      expect(relativeError(await rt.read(tl), ref.grad)).toBeLessThan(TOL);
    });
  }
  it('refuses KL without a teacher', async () => {
    const t = await rt.tensor('l', 6);
    await expect(
      trainingLoss(rt, t, null, await rt.tensor('t', new Uint32Array(2)), await rt.tensor('r', 2), { rows: 2, vocab: 3, klWeight: 1, scale: 1 }),
    ).rejects.toThrow(/teacher/);
  });
});

describe('column sum and embedding backward', () => {
  it('column sum accumulates (rows 37, cols 70)', async () => {
    const x = randomArray(37 * 70, 1);
    const y0 = randomArray(70, 2);
    const y = await rt.tensor('y', y0);
    await columnSum(rt, await rt.tensor('x', x), y, 37, 70);
    const ref = Float64Array.from(y0);
    for (let r = 0; r < 37; r++) for (let c = 0; c < 70; c++) ref[c] += x[r * 70 + c];
    expect(relativeError(await rt.read(y), ref)).toBeLessThan(TOL);
  });

  it('token rows and positions: repeated ids, B 3 × T 5, dim 13', async () => {
    const B = 3;
    const T = 5;
    const dim = 13;
    const vocab = 11;
    const ids = Uint32Array.from([4, 4, 0, 10, 4, 7, 0, 0, 3, 4, 10, 10, 10, 1, 4]);
    const dx = randomArray(B * T * dim, 3);
    const E0 = randomArray(vocab * dim, 4);
    const P0 = randomArray(8 * dim, 5);
    const { csr, distinct } = tokenRows(ids);
    expect(distinct).toBe(6);
    const tdx = await rt.tensor('dx', dx);
    const dE = await rt.tensor('dE', E0);
    const dP = await rt.tensor('dP', P0);
    await embeddingGrad(rt, tdx, await rt.tensor('csr', csr), dE, { rows: B * T, dim, distinct });
    await positionGrad(rt, tdx, dP, { rows: B * T, dim, T, pos0: 2 });
    expect(relativeError(await rt.read(dE), plus(E0, embeddingGradRef(dx, ids, vocab, dim)))).toBeLessThan(TOL);
    const pRef = Float64Array.from(P0);
    positionGradRef(dx, B * T, T, dim).forEach((v, i) => (pRef[2 * dim + i] += v));
    expect(relativeError(await rt.read(dP), pRef)).toBeLessThan(TOL);
  });
});

describe('AdamW with global-norm clipping', () => {
  it.each([
    ['clipped, weight decay', 0.5, 0.1],
    ['below the clip norm', 1e6, 0],
    ['no clipping', 0, 0.01],
  ] as const)('%s: three steps over two tensors (n = 1001 and 7)', async (_n, maxNorm, weightDecay) => {
    const sizes = [1001, 7];
    const host = sizes.map((n, i) => ({ theta: Float64Array.from(randomArray(n, 10 + i)), m: new Float64Array(n), v: new Float64Array(n) }));
    const dev = await Promise.all(
      sizes.map(async (n, i) => ({
        theta: await rt.tensor(`θ${i}`, Float32Array.from(host[i].theta)),
        st: { m: await rt.tensor(`m${i}`, new Float32Array(n)), v: await rt.tensor(`v${i}`, new Float32Array(n)), t: 0 },
      })),
    );
    const sq = await poisoned('sq', 2);
    const scale = await poisoned('scale', 2);
    let norm = 0;
    for (let step = 1; step <= 3; step++) {
      const gs = sizes.map((n, i) => randomArray(n, 20 + 3 * step + i));
      const tg = await Promise.all(gs.map((g, i) => rt.tensor(`g${i}`, g)));
      for (let i = 0; i < sizes.length; i++) await sumSquares(rt, tg[i], sq, i);
      await clipScale(rt, sq, scale, sizes.length, maxNorm);
      for (let i = 0; i < sizes.length; i++) {
        dev[i].st.t = step;
        await adamwStep(rt, dev[i].theta, tg[i], dev[i].st, scale, { lr: 0.01, weightDecay });
      }
      const r = adamwRef(
        host.map((h, i) => ({ ...h, g: gs[i] })),
        step,
        { lr: 0.01, weightDecay, maxNorm },
      );
      r.tensors.forEach((x, i) => Object.assign(host[i], x));
      norm = r.norm;
    }
    const sc = await rt.read(scale);
    expect(Math.abs(sc[1] - norm) / norm).toBeLessThan(TOL);
    for (let i = 0; i < sizes.length; i++) {
      expect(relativeError(await rt.read(dev[i].theta), host[i].theta)).toBeLessThan(TOL);
      expect(relativeError(await rt.read(dev[i].st.v), host[i].v)).toBeLessThan(TOL);
    }
  });
});
