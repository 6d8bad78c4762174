// The float64 host products (src/linalg/hostMatrix.ts) keep the loop orders their callers had when each wrote its own: a
// conversion's written weights are compared byte for byte across changes, so every function is checked here for exact
// equality (not closeness) with the loops it replaced.
import { describe, expect, it } from 'vitest';
import { column, dot, mul, mulABt, mulAdd, mulAddSparse, mulAtA, mulAtB, mulVec, sparseRows, transpose } from '../src/linalg/hostMatrix';
import { randomArray } from '../src/reference/linalg';

/** Random values with about a third of them exactly zero (the products skip zero factors). */
function values(n: number, seed: number): Float64Array {
  const r = randomArray(n, seed, -1, 1);
  return Float64Array.from(r, (v, i) => (Math.abs(v) < 0.33 && i % 2 ? 0 : v * 1.7 ** (i % 5)));
}

describe('host matrix products', () => {
  const [m, k, n] = [7, 11, 5];
  const A = values(m * k, 1);
  const B = values(k * n, 2);

  it('mulAdd and mul: row by row, zero factors skipped', () => {
    const C0 = values(m * n, 3);
    const want = Float64Array.from(C0);
    for (let i = 0; i < m; i++)
      for (let p = 0; p < k; p++) {
        const a = A[i * k + p];
        if (a === 0) continue;
        for (let j = 0; j < n; j++) want[i * n + j] += a * B[p * n + j];
      }
    expect(mulAdd(Float64Array.from(C0), A, B, m, k, n)).toEqual(want);
    const fresh = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) if (A[i * k + p] !== 0) fresh[i * n + j] += A[i * k + p] * B[p * n + j];
    expect(mul(A, B, m, k, n)).toEqual(fresh);
  });

  it('mulABt: dot products from the bias; symmetric mirrors the upper triangle', () => {
    const Bt = values(n * k, 4);
    const bias = values(n, 5);
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = bias[j];
        for (let p = 0; p < k; p++) s += A[i * k + p] * Bt[j * k + p];
        want[i * n + j] = s;
      }
    expect(mulABt(A, Bt, m, n, k, { bias })).toEqual(want);
    const S = values(m * k, 6);
    const sym = new Float64Array(m * m);
    for (let i = 0; i < m; i++)
      for (let j = i; j < m; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += A[i * k + p] * S[j * k + p];
        sym[i * m + j] = sym[j * m + i] = s;
      }
    expect(mulABt(A, S, m, m, k, { symmetric: true })).toEqual(sym);
  });

  it('mulAtA equals every entry computed (the products commute), and mulAtB', () => {
    const full = new Float64Array(k * k);
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let p = 0; p < m; p++) s += A[p * k + i] * A[p * k + j];
        full[i * k + j] = s;
      }
    expect(mulAtA(A, m, k)).toEqual(full);
    expect(mulAtB(A, A, m, k, k)).toEqual(full);
  });

  it('mulVec, dot, column, transpose', () => {
    const x = values(k, 7);
    const want = new Float64Array(m);
    for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) want[i] += A[i * k + p] * x[p];
    expect(mulVec(A, x, m, k)).toEqual(want);
    let s = 0;
    for (let e = 0; e < A.length; e++) s += A[e] * A[e];
    expect(dot(A, A)).toBe(s);
    expect(Array.from(column(A, m, k, 3))).toEqual(Array.from({ length: m }, (_, i) => A[i * k + 3]));
    expect(transpose(transpose(A, m, k), k, m)).toEqual(A);
  });

  it('mulAddSparse gives mulAdd’s numbers', () => {
    const Q = values(k * n, 8).map((v, i) => (i % 3 ? 0 : v));
    const C0 = values(m * n, 9);
    expect(mulAddSparse(Float64Array.from(C0), A, sparseRows(Q, k, n), m, k, n)).toEqual(mulAdd(Float64Array.from(C0), A, Q, m, k, n));
  });
});
