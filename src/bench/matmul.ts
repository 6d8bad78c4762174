// Matmul throughput: N×N·N×N in f32, timed over enough iterations to fill a time budget. A benchmark, never a test.
import type { GpuRuntime } from '../gpu/runtime';
import { matmul, matmulVariantFor, type MatmulVariant } from '../gpu/kernels/matmul';
import { randomArray } from '../reference/linalg';

export interface MatmulBenchRow {
  n: number;
  ms: number;
  gflops: number;
  iterations: number;
  variant: MatmulVariant;
}

export async function benchMatmul(rt: GpuRuntime, n: number, variant: MatmulVariant = matmulVariantFor(rt), budgetMs = 1500): Promise<MatmulBenchRow> {
  const A = await rt.tensor(`bench A ${n}`, randomArray(n * n, 1));
  const B = await rt.tensor(`bench B ${n}`, randomArray(n * n, 2));
  const C = await rt.tensor(`bench C ${n}`, n * n);
  const shape = { M: n, N: n, K: n };
  try {
    // Warm-up: compiles the pipeline and estimates one product's time.
    await matmul(rt, A, B, C, shape, variant);
    await rt.finish();
    let t0 = performance.now();
    await matmul(rt, A, B, C, shape, variant);
    await rt.finish();
    const once = Math.max(performance.now() - t0, 0.01);
    const iterations = Math.max(2, Math.min(1000, Math.floor(budgetMs / once)));
    t0 = performance.now();
    for (let i = 0; i < iterations; i++) await matmul(rt, A, B, C, shape, variant);
    await rt.finish();
    const ms = (performance.now() - t0) / iterations;
    return { n, ms, gflops: (2 * n ** 3) / (ms * 1e6), iterations, variant };
  } finally {
    [A, B, C].forEach((t) => rt.release(t));
  }
}
