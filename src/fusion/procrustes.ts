// The orthogonal Procrustes solution — the polar factor of an n×n matrix — in float64: scaled Newton iteration when the matrix
// is well conditioned, the eigen route otherwise. Used by head alignment (align.ts) for every V map and K's non-rotary dims.
import { symmetricEigen } from '../analysis/eigen';
import { column, dot, mulABt, mulAtA, mulVec } from '../linalg/hostMatrix';

/**
 * The orthogonal Q maximising tr(Qᵀ B) for an n×n B: the polar factor U Vᵀ of B = U Σ Vᵀ (reflections allowed). Scaled
 * Newton iteration (Higham: X ← ½(γX + X⁻ᵀ/γ), quadratic convergence, ~8 inverses of n×n) when B is well conditioned; the
 * eigen route (BᵀB = V Σ² Vᵀ, U = B V Σ⁻¹, null directions completed by Gram–Schmidt) otherwise, so Q is always orthogonal.
 */
export function procrustes(B: Float64Array, n: number): Float64Array {
  return polarNewton(B, n) ?? procrustesEigen(B, n);
}

/** In-place Gauss–Jordan inverse of the n×n `a` into `inv` (partial pivoting); false when a pivot falls below 1e-10 of the largest entry. */
function invert(a: Float64Array, n: number, inv: Float64Array): boolean {
  let big = 0;
  for (let e = 0; e < n * n; e++) big = Math.max(big, Math.abs(a[e]));
  if (!(big > 0)) return false;
  inv.fill(0);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]) > Math.abs(a[p * n + c])) p = r;
    const pivot = a[p * n + c];
    if (!(Math.abs(pivot) > 1e-10 * big)) return false;
    if (p !== c) {
      for (let j = 0; j < n; j++) {
        let t = a[c * n + j];
        a[c * n + j] = a[p * n + j];
        a[p * n + j] = t;
        t = inv[c * n + j];
        inv[c * n + j] = inv[p * n + j];
        inv[p * n + j] = t;
      }
    }
    const ip = 1 / pivot;
    for (let j = 0; j < n; j++) {
      a[c * n + j] *= ip;
      inv[c * n + j] *= ip;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r * n + c];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        a[r * n + j] -= f * a[c * n + j];
        inv[r * n + j] -= f * inv[c * n + j];
      }
    }
  }
  return true;
}

/** The polar factor by scaled Newton iteration, or null when B is (nearly) singular or the iteration does not settle. */
function polarNewton(B: Float64Array, n: number): Float64Array | null {
  let X = Float64Array.from(B);
  let next = new Float64Array(n * n);
  const work = new Float64Array(n * n);
  const inv = new Float64Array(n * n);
  let scaled = true;
  for (let it = 0; it < 40; it++) {
    work.set(X);
    if (!invert(work, n, inv)) return null;
    const nx = dot(X, X);
    const ni = dot(inv, inv);
    // κ_F(B) = ‖B‖‖B⁻¹‖ above 1e8: leave it to the eigen route, which handles near-null directions explicitly.
    if (it === 0 && Math.sqrt(nx * ni) > 1e8 * n) return null;
    // Frobenius scaling speeds the first iterations; near convergence it is 1 and is dropped.
    const g = scaled ? Math.sqrt(Math.sqrt(ni / nx)) : 1;
    let diff = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const v = 0.5 * (g * X[i * n + j] + inv[j * n + i] / g);
        const d = v - X[i * n + j];
        diff += d * d;
        next[i * n + j] = v;
      }
    [X, next] = [next, X];
    if (diff < 1e-4 * n) scaled = false;
    // Quadratic convergence: a step of 1e-9 leaves an error of about 1e-18.
    if (diff <= 1e-18 * n) return X;
  }
  return null;
}

function procrustesEigen(B: Float64Array, n: number): Float64Array {
  const { values, vectors: V } = symmetricEigen(mulAtA(B, n, n), n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b] - values[a]);
  const top = Math.sqrt(Math.max(values[order[0]], 0));
  // U's columns: B v / σ for σ above noise, then completed to an orthonormal basis.
  const U = new Float64Array(n * n);
  const done: number[] = [];
  for (const idx of order) {
    const sigma = Math.sqrt(Math.max(values[idx], 0));
    let u = new Float64Array(n);
    if (sigma > 1e-12 * Math.max(top, 1e-300)) {
      u = mulVec(B, column(V, n, n, idx), n, n).map((s) => s / sigma);
    } else {
      for (let e = 0; e < n; e++) {
        u.fill(0);
        u[e] = 1;
        for (const c of done) {
          let d = 0;
          for (let r = 0; r < n; r++) d += U[r * n + c] * u[r];
          for (let r = 0; r < n; r++) u[r] -= d * U[r * n + c];
        }
        if (Math.hypot(...u) > 0.5) break;
      }
    }
    for (const c of done) {
      let d = 0;
      for (let r = 0; r < n; r++) d += U[r * n + c] * u[r];
      for (let r = 0; r < n; r++) u[r] -= d * U[r * n + c];
    }
    const norm = Math.hypot(...u) || 1;
    for (let r = 0; r < n; r++) U[r * n + idx] = u[r] / norm;
    done.push(idx);
  }
  return mulABt(U, V, n, n, n);
}
