// Small dense products of float64 host matrices (row-major), written once for the similarity metrics, alignment, the latent
// conversion, the head edits and the float64 references. Each function states its loop order: the callers' results depend
// on it bit for bit (a conversion's written weights are compared byte for byte across changes), so an order is never
// changed here, and a product with another order gets its own function. No GPU, no model: any part of src/ may import it.

type Vec = ArrayLike<number>;

/**
 * C[m×n] += A[m×k]·B[k×n], row by row: for each i, and each p in order, a = A[i,p] (skipped when 0) adds a·B[p,·] to
 * C[i,·]. Returns C.
 */
export function mulAdd(C: Float64Array, A: Vec, B: Vec, m: number, k: number, n: number): Float64Array {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const a = A[ai + p];
      if (a === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j];
    }
  }
  return C;
}

/** A[m×k]·B[k×n] in mulAdd's order, from zeros. */
export function mul(A: Vec, B: Vec, m: number, k: number, n: number): Float64Array {
  return mulAdd(new Float64Array(m * n), A, B, m, k, n);
}

/**
 * A[m×k]·Bᵀ for B [n×k]: entry (i, j) is one dot product over p in order, Σ A[i,p]·B[j,p], started from bias[j] (0
 * without). `symmetric`: only j ≥ i is computed, and (j, i) takes its value.
 */
export function mulABt(A: Vec, B: Vec, m: number, n: number, k: number, opts: { bias?: Vec; symmetric?: boolean } = {}): Float64Array {
  const { bias, symmetric } = opts;
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = symmetric ? i : 0; j < n; j++) {
      const bj = j * k;
      let s = bias ? bias[j] : 0;
      for (let p = 0; p < k; p++) s += A[ai + p] * B[bj + p];
      C[i * n + j] = s;
      if (symmetric) C[j * n + i] = s;
    }
  }
  return C;
}

/** Aᵀ·B for A [k×m] and B [k×n]: entry (i, j) is Σ A[p,i]·B[p,j] over p in order, from 0. */
export function mulAtB(A: Vec, B: Vec, k: number, m: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A[p * m + i] * B[p * n + j];
      C[i * n + j] = s;
    }
  }
  return C;
}

/**
 * AᵀA [n×n] (the Gram of the columns) of A [rows×n]: entry (i, j), j ≥ i, is Σ A[p,i]·A[p,j] over p in order, from 0, and (j, i) takes its
 * value — the same numbers as mulAtB(A, A), whose terms A[p,j]·A[p,i] are the same products.
 */
export function mulAtA(A: Vec, rows: number, n: number): Float64Array {
  const C = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let p = 0; p < rows; p++) s += A[p * n + i] * A[p * n + j];
      C[i * n + j] = C[j * n + i] = s;
    }
  }
  return C;
}

/** A[m×k]·x: entry i is Σ A[i,p]·x[p] over p in order, from 0. */
export function mulVec(A: Vec, x: Vec, m: number, k: number): Float64Array {
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    let s = 0;
    for (let p = 0; p < k; p++) s += A[ai + p] * x[p];
    y[i] = s;
  }
  return y;
}

/** Σ a[e]·b[e] over the first n entries (all of a by default), in order, from 0: tr(AᵀB) of two same-shape matrices. */
export function dot(a: Vec, b: Vec, n = a.length): number {
  let s = 0;
  for (let e = 0; e < n; e++) s += a[e] * b[e];
  return s;
}

/** Column j of A [rows×cols]. */
export function column(A: Vec, rows: number, cols: number, j: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = A[r * cols + j];
  return out;
}

/** Aᵀ [cols×rows] of A [rows×cols]. */
export function transpose(A: Vec, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = A[r * cols + c];
  return out;
}

/** A [k×n] by rows, each row's non-zeros (column, value) in column order (compressed sparse rows). */
export interface SparseRows {
  start: Int32Array;
  col: Int32Array;
  val: Float64Array;
}

export function sparseRows(B: Vec, k: number, n: number): SparseRows {
  let nnz = 0;
  for (let e = 0; e < k * n; e++) if (B[e] !== 0) nnz++;
  const start = new Int32Array(k + 1);
  const col = new Int32Array(nnz);
  const val = new Float64Array(nnz);
  let e = 0;
  for (let r = 0; r < k; r++) {
    start[r] = e;
    for (let c = 0; c < n; c++) {
      const v = B[r * n + c];
      if (v !== 0) {
        col[e] = c;
        val[e++] = v;
      }
    }
  }
  start[k] = e;
  return { start, col, val };
}

/** C[m×n] += A[m×k]·B for a sparse B [k×n]: mulAdd's order, each row of B's non-zeros in column order. Returns C. */
export function mulAddSparse(C: Float64Array, A: Vec, B: SparseRows, m: number, k: number, n: number): Float64Array {
  const { start, col, val } = B;
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const a = A[ai + p];
      if (a === 0) continue;
      for (let e = start[p]; e < start[p + 1]; e++) C[ci + col[e]] += a * val[e];
    }
  }
  return C;
}
