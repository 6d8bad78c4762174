// The shape of a batched matrix product, shared by the kernel runner and the CPU reference (no WGSL here, so Node
// tools without a WGSL loader can import it).
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  /** Number of independent products (grid z). */
  batch?: number;
  /** A is stored [K, M] (so op(A) = Aᵀ). */
  transA?: boolean;
  /** B is stored [N, K] (so op(B) = Bᵀ): x·Wᵀ with W in PyTorch's out×in layout. */
  transB?: boolean;
  /** Elements between consecutive batch items; 0 broadcasts. Defaults: dense packing. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  alpha?: number;
  /** C = alpha·op(A)·op(B) + beta·C; beta = 0 never reads C. */
  beta?: number;
  /** Elements between rows of C (default N): C may be a block of columns of a wider matrix. */
  ldc?: number;
  /** Offset of C's first element (default 0). */
  offsetC?: number;
}

export function matmulStrides(s: MatmulShape) {
  return {
    strideA: s.strideA ?? s.M * s.K,
    strideB: s.strideB ?? s.K * s.N,
    strideC: s.strideC ?? s.M * (s.ldc ?? s.N),
    ldc: s.ldc ?? s.N,
    offsetC: s.offsetC ?? 0,
  };
}
