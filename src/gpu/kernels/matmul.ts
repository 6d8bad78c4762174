// Runner for shaders/matmul.wgsl (batched, optionally transposed operands).
import code from '../../../shaders/matmul.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { matmulStrides, type MatmulShape } from '../../linalg/matmulShape';

export { matmulStrides, type MatmulShape };

/**
 * Which matmul entry point runs: 'wide' (128×128 tiles, 8×8 per thread) for products of at least 128×128 on GPUs, 'tiled'
 * (64×64, 4×4 per thread) for smaller ones, 'direct' (registers only) on CPU fallbacks. `rt.options.matmul` (bench
 * --variant) forces one for every product.
 */
export type MatmulVariant = 'wide' | 'tiled' | 'direct';

export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['wide', 'tiled', 'direct'];

export function matmulVariantFor(rt: GpuRuntime, s?: { M: number; N: number }): MatmulVariant {
  if (rt.options.matmul) return rt.options.matmul;
  if (rt.summary.isFallbackAdapter) return 'direct';
  return s && s.M >= 128 && s.N >= 128 ? 'wide' : 'tiled';
}

const TILE = 64;

export async function matmul(
  rt: GpuRuntime,
  A: GpuTensor,
  B: GpuTensor,
  C: GpuTensor,
  s: MatmulShape,
  variant: MatmulVariant = matmulVariantFor(rt, s),
  /** Added to every row of each product (N values): a linear layer's bias in the same dispatch. */
  bias: GpuTensor | null = null,
): Promise<void> {
  const batch = s.batch ?? 1;
  const { strideA, strideB, strideC, ldc, offsetC } = matmulStrides(s);
  if (ldc < s.N) throw new RangeError(`matmul: ldc ${ldc} is less than N ${s.N}`);
  const need = (name: string, t: GpuTensor, stride: number, size: number) => {
    const n = stride * (batch - 1) + size;
    if (t.length < n) {
      throw new RangeError(`matmul: tensor "${t.label}" (${name}) holds ${t.length} values, the shape needs ${n}`);
    }
  };
  need('A', A, strideA, s.M * s.K);
  need('B', B, strideB, s.K * s.N);
  need('C', C, strideC, offsetC + (s.M - 1) * ldc + s.N);
  if (bias && bias.length < s.N) throw new RangeError(`matmul: bias "${bias.label}" holds ${bias.length} values, the shape needs ${s.N}`);
  if (s.M === 0 || s.N === 0 || batch === 0) return;
  const constants = { TRANS_A: s.transA ? 1 : 0, TRANS_B: s.transB ? 1 : 0, HAS_BIAS: bias ? 1 : 0 };
  const params = { M: s.M, N: s.N, K: s.K, strideA, strideB, strideC, alpha: s.alpha ?? 1, beta: s.beta ?? 0, ldc, offC: offsetC };
  const buffers = { A, B, C, bias: bias ?? B };
  if (variant === 'direct') {
    // 8×8 threads, 4×4 outputs each: 32×32 outputs per workgroup.
    await rt.run(
      { code, label: 'matmul-direct', entryPoint: 'direct', constants },
      { buffers, params, workgroups: [Math.ceil(s.N / 32), Math.ceil(s.M / 32), batch] },
    );
  } else if (variant === 'wide') {
    await rt.run(
      { code, label: 'matmul-wide', entryPoint: 'wide', constants },
      { buffers, params, workgroups: [Math.ceil(s.N / 128), Math.ceil(s.M / 128), batch] },
    );
  } else {
    await rt.run({ code, label: 'matmul', constants }, { buffers, params, workgroups: [Math.ceil(s.N / TILE), Math.ceil(s.M / TILE), batch] });
  }
}
