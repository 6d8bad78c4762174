// Attention forward throughput per kernel and sequence length: B sequences of T positions attending causally to themselves
// (a prefill), GPT-2-small's heads by default (12 × 64). A benchmark, never a test.
import type { GpuRuntime } from '../gpu/runtime';
import { attention, type AttentionVariant } from '../gpu/kernels/transformer';
import { randomArray } from '../reference/linalg';

export interface AttentionBenchRow {
  variant: AttentionVariant;
  B: number;
  T: number;
  heads: number;
  headDim: number;
  ms: number;
  /** Useful multiply-adds of the causal product (QKᵀ and PV over the lower triangle), in GFLOP/s. */
  gflops: number;
  iterations: number;
}

export async function benchAttention(
  rt: GpuRuntime,
  variant: AttentionVariant,
  T: number,
  B = 8,
  heads = 12,
  headDim = 64,
  budgetMs = 500,
): Promise<AttentionBenchRow> {
  const n = B * T * heads * headDim;
  const q = await rt.tensor(`bench q ${T}`, randomArray(n, 1, -1, 1));
  const k = await rt.tensor(`bench k ${T}`, randomArray(n, 2, -1, 1));
  const v = await rt.tensor(`bench v ${T}`, randomArray(n, 3, -1, 1));
  const maps = await rt.tensor(
    'bench maps',
    Uint32Array.from({ length: 2 * heads }, (_, i) => i % heads),
  );
  const out = await rt.tensor(`bench out ${T}`, n);
  const shape = { B, T, pos0: 0, heads, kHeads: heads, vHeads: heads, headDim, cacheT: T, window: 0, scale: 1 / Math.sqrt(headDim) };
  const once = () => attention(rt, q, k, v, maps, out, shape, variant);
  try {
    await once();
    await rt.finish();
    let t0 = performance.now();
    await once();
    await rt.finish();
    const first = Math.max(performance.now() - t0, 0.01);
    const iterations = Math.max(2, Math.min(500, Math.floor(budgetMs / first)));
    t0 = performance.now();
    for (let i = 0; i < iterations; i++) await once();
    await rt.finish();
    const ms = (performance.now() - t0) / iterations;
    const flops = 4 * B * heads * headDim * ((T * (T + 1)) / 2);
    return { variant, B, T, heads, headDim, ms, gflops: flops / (ms * 1e6), iterations };
  } finally {
    [q, k, v, maps, out].forEach((t) => rt.release(t));
  }
}
