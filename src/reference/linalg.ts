// CPU references for the first kernels, in float64. Tests compare every kernel with these; the self-test panel too.
import { matmulStrides, type MatmulShape } from '../linalg/matmulShape';

type Vec = ArrayLike<number>;

/** The activations of unaryRef: the elementwise kernel's (src/gpu/kernels/elementwise.ts UNARY_OPS; a kernel op missing here fails the type check of the tests that pass it). */
export type UnaryRefOp = 'identity' | 'silu' | 'gelu_tanh' | 'gelu_erf' | 'exp';
/** The operations of binaryRef: the elementwise kernel's BINARY_OPS. */
export type BinaryRefOp = 'add' | 'mul' | 'silu_mul';

export function matmulRef(A: Vec, B: Vec, s: MatmulShape, C0?: Vec): Float64Array {
  const batch = s.batch ?? 1;
  const { strideA, strideB, strideC, ldc, offsetC } = matmulStrides(s);
  const { M, N, K } = s;
  const alpha = s.alpha ?? 1;
  const beta = s.beta ?? 0;
  const out = new Float64Array(strideC * (batch - 1) + offsetC + (M - 1) * ldc + N);
  if (C0) for (let i = 0; i < Math.min(out.length, C0.length); i++) out[i] = C0[i];
  for (let b = 0; b < batch; b++) {
    const a0 = b * strideA;
    const b0 = b * strideB;
    const c0 = b * strideC;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = s.transA ? A[a0 + k * M + m] : A[a0 + m * K + k];
          const bv = s.transB ? B[b0 + n * K + k] : B[b0 + k * N + n];
          acc += av * bv;
        }
        const idx = c0 + offsetC + m * ldc + n;
        out[idx] = alpha * acc + (beta !== 0 && C0 ? beta * C0[idx] : 0);
      }
    }
  }
  return out;
}

export function reduceRowsRef(op: 'sum' | 'max', x: Vec, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let v = op === 'max' ? -Infinity : 0;
    for (let c = 0; c < cols; c++) v = op === 'max' ? Math.max(v, x[r * cols + c]) : v + x[r * cols + c];
    out[r] = v;
  }
  return out;
}

export function softmaxRowsRef(x: Vec, rows: number, cols: number, scale = 1): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, scale * x[r * cols + c]);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(scale * x[r * cols + c] - m);
    for (let c = 0; c < cols; c++) out[r * cols + c] = Math.exp(scale * x[r * cols + c] - m) / s;
  }
  return out;
}

/** erfc(z) for z ≥ 0 to about 1e-14 relative: 1 − Maclaurin series of erf below 2.5, the continued fraction above. */
export function erfcNonNeg(z: number): number {
  if (z < 2.5) {
    let sum = z;
    let term = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(z) = exp(−z²)/√π · 1/(z + (1/2)/(z + (2/2)/(z + (3/2)/(z + …))))
  let f = z;
  for (let n = 60; n >= 1; n--) f = z + n / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

export function erf(x: number): number {
  const r = 1 - erfcNonNeg(Math.abs(x));
  return x < 0 ? -r : r;
}

/** GELU with the exact erf, without cancellation for negative inputs. */
export function geluErf(v: number): number {
  const r = erfcNonNeg(Math.abs(v) / Math.SQRT2);
  return v >= 0 ? 0.5 * v * (2 - r) : 0.5 * v * r;
}

export function unaryRef(op: UnaryRefOp, x: Vec, alpha = 1): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = alpha * x[i];
    switch (op) {
      case 'silu':
        out[i] = v / (1 + Math.exp(-v));
        break;
      case 'gelu_tanh':
        out[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
        break;
      case 'gelu_erf':
        out[i] = geluErf(v);
        break;
      case 'exp':
        out[i] = Math.exp(v);
        break;
      default:
        out[i] = v;
    }
  }
  return out;
}

export function binaryRef(op: BinaryRefOp, a: Vec, b: Vec, bLen = b.length): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const bv = b[i % bLen];
    out[i] = op === 'mul' ? a[i] * bv : op === 'silu_mul' ? (a[i] / (1 + Math.exp(-a[i]))) * bv : a[i] + bv;
  }
  return out;
}

/** ‖out − ref‖ / ‖ref‖ (NaN anywhere in out gives NaN, which fails every comparison). */
export function relativeError(out: Vec, ref: Vec): number {
  if (out.length !== ref.length) return NaN;
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (den === 0) return Math.sqrt(num);
  return Math.sqrt(num / den);
}

/** Seeded uniform values in [lo, hi) (mulberry32), so failures reproduce. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}
