// Every first kernel against its float64 CPU reference on random inputs of sizes that are not multiples of the tile.
// Outputs are filled with NaN before each run, so a thread that writes nothing fails the comparison.
import { describe, expect, it, beforeAll } from 'vitest';
import { gpu, poisoned as poisonedTensor } from './gpu-context';
import type { GpuRuntime, GpuTensor } from '../src/gpu/runtime';
import { matmul, type MatmulShape, type MatmulVariant } from '../src/gpu/kernels/matmul';
import { reduceRows } from '../src/gpu/kernels/reduce';
import { softmaxRows } from '../src/gpu/kernels/softmax';
import { binary, unary, UNARY_OPS, type UnaryOp } from '../src/gpu/kernels/elementwise';
import { binaryRef, matmulRef, randomArray, reduceRowsRef, relativeError, softmaxRowsRef, unaryRef } from '../src/reference/linalg';

const TOL = 1e-5;
let rt: GpuRuntime;

beforeAll(async () => {
  rt = await gpu();
});

const poisoned = (label: string, n: number): Promise<GpuTensor> => poisonedTensor(rt, label, n);

describe('adapter', () => {
  it('has a WebGPU adapter and a device with the adapter limits', () => {
    expect(rt.summary.vendor).not.toBe('');
    expect(rt.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(rt.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });
});

describe('matmul', () => {
  const sizes = [1, 7, 33, 130];
  const shapes: MatmulShape[] = [];
  for (const M of sizes) for (const N of [1, 33, 130]) for (const K of [1, 7, 130]) shapes.push({ M, N, K });
  shapes.push({ M: 65, N: 129, K: 257 }, { M: 200, N: 70, K: 17, transB: true }, { M: 31, N: 66, K: 45, transA: true });
  shapes.push({ M: 7, N: 9, K: 33, transA: true, transB: true, batch: 5 });
  shapes.push({ M: 13, N: 29, K: 33, transB: true, batch: 4, strideB: 0 }); // one weight broadcast over the batch
  shapes.push({ M: 33, N: 7, K: 130, alpha: 0.125 });

  shapes.push({ M: 300, N: 257, K: 35 }, { M: 129, N: 140, K: 47, transA: true, transB: true, batch: 2, alpha: 0.5 }); // several wide tiles
  const variants: MatmulVariant[] = ['wide', 'tiled', 'direct'];
  const cases = variants.flatMap((v) => shapes.map((s, i) => [`${v} ${JSON.stringify(s)}`, s, i, v] as const));
  it.each(cases)('%s', async (_name, s, i, variant) => {
    const batch = s.batch ?? 1;
    const aLen = s.strideA === 0 ? s.M * s.K : batch * s.M * s.K;
    const bLen = s.strideB === 0 ? s.K * s.N : batch * s.K * s.N;
    const a = randomArray(aLen, 100 + i);
    const b = randomArray(bLen, 200 + i);
    const A = await rt.tensor('A', a);
    const B = await rt.tensor('B', b);
    const C = await poisoned('C', batch * s.M * s.N);
    await matmul(rt, A, B, C, s, variant);
    const out = await rt.read(C);
    const ref = matmulRef(a, b, s);
    expect(relativeError(out, ref)).toBeLessThan(TOL);
    [A, B, C].forEach((t) => rt.release(t));
  });

  it.each(variants)('%s accumulates with beta (C = αAB + βC) reading the old C', async (variant) => {
    const s: MatmulShape = { M: 33, N: 17, K: 9, alpha: 2, beta: -0.5 };
    const a = randomArray(33 * 9, 1);
    const b = randomArray(9 * 17, 2);
    const c0 = randomArray(33 * 17, 3);
    const [A, B, C] = [await rt.tensor('A', a), await rt.tensor('B', b), await rt.tensor('C', c0)];
    await matmul(rt, A, B, C, s, variant);
    expect(relativeError(await rt.read(C), matmulRef(a, b, s, c0))).toBeLessThan(TOL);
  });

  it.each(variants)('%s adds a bias per column and the old C in its epilogue (a linear layer and its residual)', async (variant) => {
    const s: MatmulShape = { M: 37, N: 130, K: 33, transB: true, beta: 1, batch: 2, strideB: 0 };
    const a = randomArray(2 * 37 * 33, 21);
    const b = randomArray(130 * 33, 22);
    const bias = randomArray(130, 23);
    const c0 = randomArray(2 * 37 * 130, 24);
    const [A, B, C, bb] = [await rt.tensor('A', a), await rt.tensor('B', b), await rt.tensor('C', c0), await rt.tensor('bias', bias)];
    await matmul(rt, A, B, C, s, variant, bb);
    const ref = matmulRef(a, b, s, c0);
    for (let i = 0; i < ref.length; i++) ref[i] += bias[i % 130];
    expect(relativeError(await rt.read(C), ref)).toBeLessThan(TOL);
    await expect(matmul(rt, A, B, C, s, variant, await rt.tensor('short bias', 129))).rejects.toThrow(
      /bias "short bias" holds 129 values, the shape needs 130/,
    );
  });

  it.each(variants)('%s writes a block of columns of a wider C (ldc, offsetC), leaving the rest alone', async (variant) => {
    const s: MatmulShape = { M: 9, N: 13, K: 33, transB: true, ldc: 50, offsetC: 17 };
    const a = randomArray(9 * 33, 11);
    const b = randomArray(13 * 33, 12);
    const c0 = randomArray(17 + 8 * 50 + 13 + 5, 13);
    const [A, B, C] = [await rt.tensor('A', a), await rt.tensor('B', b), await rt.tensor('C', c0)];
    await matmul(rt, A, B, C, s, variant);
    const out = await rt.read(C);
    const ref = matmulRef(a, b, s, c0);
    expect(relativeError(out.subarray(0, ref.length), ref)).toBeLessThan(TOL);
    expect(out.subarray(ref.length)).toEqual(c0.subarray(ref.length));
  });

  it('refuses a shape that overruns a tensor, naming it', async () => {
    const A = await rt.tensor('weights.wq', 10);
    const B = await rt.tensor('x', 10);
    const C = await rt.tensor('out', 10);
    await expect(matmul(rt, A, B, C, { M: 4, N: 4, K: 4 })).rejects.toThrow(/weights\.wq/);
  });
});

describe('row reductions', () => {
  for (const [op, variant] of [
    ['sum', 'workgroup'],
    ['max', 'workgroup'],
    ['sum', 'rows'],
    ['max', 'rows'],
  ] as const) {
    it.each([
      [1, 1],
      [7, 33],
      [33, 7],
      [3, 1000],
      [130, 257],
    ])(`${op} (${variant}) %i×%i`, async (rows, cols) => {
      const x = randomArray(rows * cols, rows * 31 + cols);
      const X = await rt.tensor('x', x);
      const Y = await poisoned('y', rows);
      await reduceRows(rt, op, X, Y, rows, cols, variant);
      expect(relativeError(await rt.read(Y), reduceRowsRef(op, x, rows, cols))).toBeLessThan(TOL);
    });
  }
});

describe('softmax', () => {
  it.each([
    [1, 1, 1],
    [7, 33, 0.3],
    [33, 7, 2],
    [5, 1000, 1],
    [130, 130, 0.125],
  ])('%i×%i scale %f', async (rows, cols, scale) => {
    const x = randomArray(rows * cols, rows + 7 * cols, -10, 10);
    const X = await rt.tensor('x', x);
    const Y = await poisoned('y', rows * cols);
    await softmaxRows(rt, X, Y, rows, cols, scale);
    expect(relativeError(await rt.read(Y), softmaxRowsRef(x, rows, cols, scale))).toBeLessThan(TOL);
  });

  it('stays finite for large logits', async () => {
    const x = new Float32Array([1000, 999, -1000, 0, 88, 89]);
    const X = await rt.tensor('x', x);
    const Y = await poisoned('y', 6);
    await softmaxRows(rt, X, Y, 2, 3, 1);
    expect(relativeError(await rt.read(Y), softmaxRowsRef(x, 2, 3))).toBeLessThan(TOL);
  });
});

describe('elementwise', () => {
  for (const op of Object.keys(UNARY_OPS) as UnaryOp[]) {
    it.each([1, 7, 33, 130, 70_000])(`${op} n=%i`, async (n) => {
      const x = randomArray(n, n + op.length, -9, 9);
      const X = await rt.tensor('x', x);
      const Y = await poisoned('y', n);
      await unary(rt, op, X, Y, n, 0.75);
      expect(relativeError(await rt.read(Y), unaryRef(op, x, 0.75))).toBeLessThan(TOL);
    });
  }

  it('GELU and SiLU stay finite far from zero', async () => {
    const x = new Float32Array([-1e4, -200, -90, 90, 200, 1e4]);
    for (const op of ['silu', 'gelu_tanh', 'gelu_erf'] as const) {
      const X = await rt.tensor('x', x);
      const Y = await poisoned('y', x.length);
      await unary(rt, op, X, Y);
      const out = await rt.read(Y);
      expect(out.every(Number.isFinite)).toBe(true);
      expect(relativeError(out, unaryRef(op, x))).toBeLessThan(TOL);
    }
  });

  for (const op of ['add', 'mul'] as const) {
    it.each([
      [1, 1],
      [7 * 33, 33],
      [130, 130],
      [33 * 130, 130],
    ])(`${op} %i ∘ %i`, async (n, bLen) => {
      const a = randomArray(n, n);
      const b = randomArray(bLen, bLen + 1);
      const A = await rt.tensor('a', a);
      const B = await rt.tensor('b', b);
      const Y = await poisoned('y', n);
      await binary(rt, op, A, B, Y, n, bLen);
      expect(relativeError(await rt.read(Y), binaryRef(op, a, b, bLen))).toBeLessThan(TOL);
    });
  }

  it('refuses a b that does not broadcast', async () => {
    const A = await rt.tensor('hidden', 10);
    const B = await rt.tensor('bias', 3);
    await expect(binary(rt, 'add', A, B, A)).rejects.toThrow(/bias.*does not broadcast/);
  });
});
