// Kernel self-test: every kernel against its float64 CPU reference on small inputs of awkward sizes, outputs poisoned
// with NaN first. The GPU panel shows it; `headlab selftest` prints it; tests assert it.
import type { GpuRuntime, GpuTensor } from './runtime';
import { matmul, type MatmulShape, type MatmulVariant } from './kernels/matmul';
import { attention, type AttentionVariant } from './kernels/transformer';
import { attentionRef } from '../reference/transformer';
import { attentionBackwardFlash, flashGradScratch, type AttnGradShape } from './kernels/training';
import { contextRef, dkeysRef, dqueriesRef, dscoresRef, dvaluesRef, probsRef } from '../reference/training';
import { reduceRows } from './kernels/reduce';
import { softmaxRows } from './kernels/softmax';
import { binary, unary, type BinaryOp, type UnaryOp } from './kernels/elementwise';
import { binaryRef, matmulRef, randomArray, reduceRowsRef, relativeError, softmaxRowsRef, unaryRef } from '../reference/linalg';

export const SELFTEST_TOLERANCE = 1e-5;

export interface SelfTestResult {
  kernel: string;
  shape: string;
  /** ‖gpu − cpu‖ / ‖cpu‖ */
  relError: number;
  maxAbsError: number;
  pass: boolean;
  ms: number;
}

interface Case {
  kernel: string;
  shape: string;
  run: (rt: GpuRuntime, seed: number) => Promise<{ out: Float32Array; ref: Float64Array }>;
}

async function withTensors(rt: GpuRuntime, inputs: Float32Array[], outLen: number, body: (ins: GpuTensor[], out: GpuTensor) => Promise<void>) {
  const ins = await Promise.all(inputs.map((d, i) => rt.tensor(`selftest-in${i}`, d)));
  const out = await rt.tensor('selftest-out', outLen);
  try {
    rt.fill(out, NaN);
    await body(ins, out);
    return await rt.read(out);
  } finally {
    for (const t of [...ins, out]) rt.release(t);
  }
}

function matmulCase(s: MatmulShape, variant?: MatmulVariant): Case {
  const tag = `${s.batch ?? 1}×${s.M}×${s.K}·${s.K}×${s.N}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}`;
  return {
    kernel: variant ? `matmul (${variant})` : 'matmul',
    shape: tag,
    run: async (rt, seed) => {
      const batch = s.batch ?? 1;
      const a = randomArray(batch * s.M * s.K, seed);
      const b = randomArray(batch * s.K * s.N, seed + 1);
      const out = await withTensors(rt, [a, b], batch * s.M * s.N, ([A, B], C) => matmul(rt, A, B, C, s, variant));
      return { out, ref: matmulRef(a, b, s) };
    },
  };
}

/** Causal attention of one sequence through DHA-like maps (4 query heads, 2 K heads, 3 V heads), 37 positions. */
function attentionCase(variant: AttentionVariant, headDim: number): Case {
  const T = 37;
  const heads = 4;
  const kMap = [1, 0, 0, 1];
  const vMap = [2, 2, 0, 1];
  const shape = { B: 1, T, pos0: 0, heads, kHeads: 2, vHeads: 3, headDim, cacheT: T, window: 0, scale: 1 / Math.sqrt(headDim) };
  return {
    kernel: `attention (${variant})`,
    shape: `${T} positions, ${heads}×${headDim}, K/V heads 2/3`,
    run: async (rt, seed) => {
      const q = randomArray(T * heads * headDim, seed, -1, 1);
      const k = randomArray(T * 2 * headDim, seed + 1);
      const v = randomArray(T * 3 * headDim, seed + 2);
      const maps = await rt.tensor('selftest-maps', Uint32Array.from([...kMap, ...vMap]));
      try {
        const out = await withTensors(rt, [q, k, v], T * heads * headDim, ([Q, K, V], O) => attention(rt, Q, K, V, maps, O, shape, variant));
        return { out, ref: attentionRef(q, k, v, shape, kMap, vMap) };
      } finally {
        rt.release(maps);
      }
    },
  };
}

function reduceCase(op: 'sum' | 'max', rows: number, cols: number): Case {
  return {
    kernel: `row ${op}`,
    shape: `${rows}×${cols}`,
    run: async (rt, seed) => {
      const x = randomArray(rows * cols, seed);
      const out = await withTensors(rt, [x], rows, ([X], Y) => reduceRows(rt, op, X, Y, rows, cols));
      return { out, ref: reduceRowsRef(op, x, rows, cols) };
    },
  };
}

function softmaxCase(rows: number, cols: number, scale: number): Case {
  return {
    kernel: 'softmax',
    shape: `${rows}×${cols}`,
    run: async (rt, seed) => {
      const x = randomArray(rows * cols, seed, -8, 8);
      const out = await withTensors(rt, [x], rows * cols, ([X], Y) => softmaxRows(rt, X, Y, rows, cols, scale));
      return { out, ref: softmaxRowsRef(x, rows, cols, scale) };
    },
  };
}

function unaryCase(op: UnaryOp, n: number): Case {
  return {
    kernel: op,
    shape: `${n}`,
    run: async (rt, seed) => {
      const x = randomArray(n, seed, -6, 6);
      const out = await withTensors(rt, [x], n, ([X], Y) => unary(rt, op, X, Y, n));
      return { out, ref: unaryRef(op, x) };
    },
  };
}

function binaryCase(op: BinaryOp, n: number, bLen: number): Case {
  return {
    kernel: op,
    shape: `${n} ∘ ${bLen}`,
    run: async (rt, seed) => {
      const a = randomArray(n, seed);
      const b = randomArray(bLen, seed + 1);
      const out = await withTensors(rt, [a, b], n, ([A, B], Y) => binary(rt, op, A, B, Y, n, bLen));
      return { out, ref: binaryRef(op, a, b, bLen) };
    },
  };
}

/** The flash attention backward (training on GPUs): dQ, dK and dV of 70 positions (two blocks), DHA-like maps, together. */
function attentionGradCase(): Case {
  const s: AttnGradShape = { B: 1, T: 70, heads: 4, kHeads: 2, vHeads: 3, dh: 32, window: 0, scale: 1 / Math.sqrt(32) };
  const maps = Uint32Array.from([1, 0, 0, 1, 2, 2, 0, 1]);
  const rows = s.T * s.heads * s.dh;
  const nk = s.T * s.kHeads * s.dh;
  const nv = s.T * s.vHeads * s.dh;
  return {
    kernel: 'attention backward (flash)',
    shape: `${s.T} positions, ${s.heads}×${s.dh}, K/V heads 2/3`,
    run: async (rt, seed) => {
      const q = randomArray(rows, seed, -1, 1);
      const k = randomArray(nk, seed + 1, -1, 1);
      const v = randomArray(nv, seed + 2);
      const dA = randomArray(rows, seed + 3);
      const P = probsRef(q, k, maps, s);
      const a = contextRef(P, v, maps, s);
      const dS = dscoresRef(P, dA, v, maps, s);
      const ref = new Float64Array(rows + nk + nv);
      ref.set(dqueriesRef(dS, k, maps, s));
      ref.set(dkeysRef(dS, q, maps, s), rows);
      ref.set(dvaluesRef(P, dA, maps, s), rows + nk);
      const n = flashGradScratch(s);
      const inputs = [q, k, v, Float32Array.from(a), dA];
      const extra = await Promise.all([
        rt.tensor('selftest-maps', maps),
        rt.tensor('selftest-lse', n.lse),
        rt.tensor('selftest-dKh', n.dKh),
        rt.tensor('selftest-dVh', n.dVh),
      ]);
      try {
        const out = await withTensors(rt, inputs, rows + nk + nv, async ([tq, tk, tv, ta, tdA], o) => {
          const g = await Promise.all([rt.tensor('selftest-dq', rows), rt.tensor('selftest-dk', nk), rt.tensor('selftest-dv', nv)]);
          try {
            g.forEach((t) => rt.fill(t, NaN));
            await attentionBackwardFlash(
              rt,
              { q: tq, k: tk, v: tv, a: ta, dA: tdA, maps: extra[0] },
              { dq: g[0], dk: g[1], dv: g[2] },
              { lse: extra[1], dKh: extra[2], dVh: extra[3] },
              s,
            );
            rt.copy(g[0], o, rows, 0, 0);
            rt.copy(g[1], o, nk, 0, rows);
            rt.copy(g[2], o, nv, 0, rows + nk);
          } finally {
            g.forEach((t) => rt.release(t));
          }
        });
        return { out, ref };
      } finally {
        extra.forEach((t) => rt.release(t));
      }
    },
  };
}

export function selfTestCases(): Case[] {
  return [
    matmulCase({ M: 7, N: 33, K: 13 }),
    matmulCase({ M: 33, N: 7, K: 70, transB: true }),
    matmulCase({ M: 9, N: 5, K: 33, transA: true }),
    matmulCase({ M: 5, N: 6, K: 7, batch: 3, transA: true, transB: true }),
    matmulCase({ M: 130, N: 140, K: 33, transB: true }, 'wide'),
    matmulCase({ M: 130, N: 140, K: 33, transA: true }, 'tiled'),
    attentionCase('flash', 64),
    attentionCase('workgroup', 20),
    attentionCase('rows', 16),
    attentionGradCase(),
    reduceCase('sum', 7, 130),
    reduceCase('max', 5, 33),
    softmaxCase(7, 33, 0.5),
    unaryCase('silu', 130),
    unaryCase('gelu_tanh', 130),
    unaryCase('gelu_erf', 130),
    unaryCase('exp', 33),
    binaryCase('add', 7 * 33, 33),
    binaryCase('mul', 130, 130),
  ];
}

export async function* runSelfTest(rt: GpuRuntime, seed = 1): AsyncGenerator<SelfTestResult> {
  let i = 0;
  for (const c of selfTestCases()) {
    const t0 = performance.now();
    const { out, ref } = await c.run(rt, seed + 17 * i++);
    let maxAbs = 0;
    for (let j = 0; j < ref.length; j++) maxAbs = Math.max(maxAbs, Math.abs(out[j] - ref[j]) || (Number.isNaN(out[j]) ? Infinity : 0));
    const relError = relativeError(out, ref);
    yield {
      kernel: c.kernel,
      shape: c.shape,
      relError,
      maxAbsError: maxAbs,
      pass: relError < SELFTEST_TOLERANCE && Number.isFinite(maxAbs),
      ms: performance.now() - t0,
    };
  }
}
