// Float64 CPU references of the end-to-end training kernels (src/gpu/kernels/layerGrads.ts and optimizer.ts), written from
// the formulas, for tests: norm backward, MLP activation backward, the losses, the embedding backward, AdamW with clipping.
import { erfcNonNeg } from './linalg';
import { forwardRef } from './transformer';
import type { Model } from '../model/types';

type Vec = ArrayLike<number>;

/** Backward of y = norm(x)·w (+ b) over [rows, dim]: dx, dw and db (db is LayerNorm's; for RMSNorm it is unused). */
export function normBackwardRef(kind: 'rmsnorm' | 'layernorm', x: Vec, w: Vec, dy: Vec, rows: number, dim: number, eps: number) {
  const dx = new Float64Array(rows * dim);
  const dw = new Float64Array(dim);
  const db = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let mean = 0;
    if (kind === 'layernorm') {
      for (let c = 0; c < dim; c++) mean += x[o + c];
      mean /= dim;
    }
    let ss = 0;
    for (let c = 0; c < dim; c++) ss += (x[o + c] - mean) ** 2;
    const rs = 1 / Math.sqrt(ss / dim + eps);
    let meanG = 0;
    let meanGx = 0;
    for (let c = 0; c < dim; c++) {
      const g = dy[o + c] * w[c];
      meanG += g / dim;
      meanGx += (g * (x[o + c] - mean) * rs) / dim;
    }
    if (kind === 'rmsnorm') meanG = 0;
    for (let c = 0; c < dim; c++) {
      const xh = (x[o + c] - mean) * rs;
      dx[o + c] = rs * (dy[o + c] * w[c] - meanG - xh * meanGx);
      dw[c] += dy[o + c] * xh;
      db[c] += dy[o + c];
    }
  }
  return { dx, dw, db };
}

export function swigluGradRef(g: Vec, u: Vec, da: Vec) {
  const dg = new Float64Array(g.length);
  const du = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const sig = 1 / (1 + Math.exp(-g[i]));
    dg[i] = da[i] * u[i] * sig * (1 + g[i] * (1 - sig));
    du[i] = da[i] * g[i] * sig;
  }
  return { dg, du };
}

export function geluGradRef(kind: 'gelu_tanh' | 'gelu_erf', u: Vec, da: Vec): Float64Array {
  const du = new Float64Array(u.length);
  const c = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    let d: number;
    if (kind === 'gelu_tanh') {
      const t = Math.tanh(c * (x + 0.044715 * x ** 3));
      d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    } else {
      const r = erfcNonNeg(Math.abs(x) / Math.SQRT2);
      d = (x >= 0 ? 1 - 0.5 * r : 0.5 * r) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
    }
    du[i] = da[i] * d;
  }
  return du;
}

const NONE = 0xffffffff;

function logSoftmax(z: Vec, o: number, n: number): Float64Array {
  let m = -Infinity;
  for (let c = 0; c < n; c++) m = Math.max(m, z[o + c]);
  let s = 0;
  for (let c = 0; c < n; c++) s += Math.exp(z[o + c] - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(n);
  for (let c = 0; c < n; c++) out[c] = z[o + c] - lse;
  return out;
}

/**
 * Per row: klWeight·KL(softmax(teacher) ‖ softmax(logits)) + (1 − klWeight)·CE(target); rows with target 0xFFFFFFFF are
 * not scored. Returns the row losses and scale·∂/∂logits.
 */
export function lossRef(logits: Vec, teacher: Vec | null, targets: Vec, rows: number, vocab: number, klWeight: number, scale: number) {
  const rowLoss = new Float64Array(rows);
  const grad = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    if (targets[r] === NONE) continue;
    const o = r * vocab;
    const lp = logSoftmax(logits, o, vocab);
    const lq = klWeight > 0 ? logSoftmax(teacher!, o, vocab) : null;
    let kl = 0;
    for (let c = 0; c < vocab; c++) {
      let g = Math.exp(lp[c]);
      if (lq) {
        kl += Math.exp(lq[c]) * (lq[c] - lp[c]);
        g -= klWeight * Math.exp(lq[c]);
      }
      if (c === targets[r] && klWeight < 1) g -= 1 - klWeight;
      grad[o + c] = scale * g;
    }
    rowLoss[r] = klWeight * kl + (klWeight < 1 ? (1 - klWeight) * -lp[targets[r]] : 0);
  }
  return { rowLoss, grad };
}

/** dE[id] += Σ of dx's rows with that id; dP[t] += Σ_b dx[b·T + t] when positions are learned. */
export function embeddingGradRef(dx: Vec, ids: ArrayLike<number>, vocab: number, dim: number) {
  const dE = new Float64Array(vocab * dim);
  for (let r = 0; r < ids.length; r++) for (let c = 0; c < dim; c++) dE[ids[r] * dim + c] += dx[r * dim + c];
  return dE;
}

export function positionGradRef(dx: Vec, rows: number, T: number, dim: number): Float64Array {
  const dP = new Float64Array(T * dim);
  for (let r = 0; r < rows; r++) for (let c = 0; c < dim; c++) dP[(r % T) * dim + c] += dx[r * dim + c];
  return dP;
}

/**
 * AdamW on several tensors at once, with the gradient clipped to a global norm first (maxNorm 0: none), step t (≥ 1).
 * Returns the new θ, m, v per tensor and the norm before clipping.
 */
export function adamwRef(
  tensors: { theta: Vec; g: Vec; m: Vec; v: Vec }[],
  t: number,
  h: { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; maxNorm?: number },
) {
  const b1 = h.beta1 ?? 0.9;
  const b2 = h.beta2 ?? 0.999;
  const eps = h.eps ?? 1e-8;
  const wd = h.weightDecay ?? 0;
  let sq = 0;
  for (const x of tensors) for (let i = 0; i < x.g.length; i++) sq += x.g[i] ** 2;
  const norm = Math.sqrt(sq);
  const f = h.maxNorm && norm > h.maxNorm ? h.maxNorm / norm : 1;
  const out = tensors.map(({ theta, g, m, v }) => {
    const n = theta.length;
    const r = { theta: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      const gi = g[i] * f;
      r.m[i] = b1 * m[i] + (1 - b1) * gi;
      r.v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      r.theta[i] = theta[i] * (1 - h.lr * wd) - (h.lr * (r.m[i] / (1 - b1 ** t))) / (Math.sqrt(r.v[i] / (1 - b2 ** t)) + eps);
    }
    return r;
  });
  return { tensors: out, norm };
}

/**
 * The training loss of a whole model in float64 (the finite-difference reference of the backward pass): B sequences of T
 * token ids from position 0, per row the KL to the teacher's logits (weight klWeight) and the CE of its target, averaged
 * over the scored rows (targets ≠ 0xFFFFFFFF).
 */
export function modelLossRef(
  model: Model,
  ids: ArrayLike<number>,
  T: number,
  teacher: ArrayLike<number> | null,
  targets: ArrayLike<number>,
  klWeight: number,
): number {
  const V = model.config.vocab;
  let total = 0;
  let scored = 0;
  for (let b = 0; b < ids.length / T; b++) {
    const logits = forwardRef(model, Array.from(ids).slice(b * T, (b + 1) * T));
    const tl = teacher ? Array.prototype.slice.call(teacher, b * T * V, (b + 1) * T * V) : null;
    const tg = Array.prototype.slice.call(targets, b * T, (b + 1) * T) as number[];
    total += lossRef(logits, tl, tg, T, V, klWeight, 1).rowLoss.reduce((a, x) => a + x, 0);
    scored += tg.filter((x) => x !== NONE).length;
  }
  return total / scored;
}
