// Float64 CPU references of the training kernels (src/gpu/kernels/training.ts), written from the formulas, for tests.
import { ropeRef } from './transformer';
import { mulABt } from '../linalg/hostMatrix';

type Vec = ArrayLike<number>;

/** B sequences of T positions; query, K and V heads of dh dims; window 0: global, else keys j > i − window only. (The GPU's AttnGradShape has the same fields.) */
export interface AttentionRefShape {
  B: number;
  T: number;
  heads: number;
  kHeads: number;
  vHeads: number;
  dh: number;
  window: number;
  scale: number;
}

const firstKey = (tq: number, window: number) => (window > 0 && tq + 1 > window ? tq + 1 - window : 0);

export function probsRef(q: Vec, k: Vec, maps: Vec, s: AttentionRefShape): Float64Array {
  const { B, T, heads: H, kHeads: K, dh } = s;
  const P = new Float64Array(B * H * T * T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let tq = 0; tq < T; tq++) {
        const row = ((b * H + h) * T + tq) * T;
        const j0 = firstKey(tq, s.window);
        let m = -Infinity;
        for (let j = j0; j <= tq; j++) {
          let dot = 0;
          for (let d = 0; d < dh; d++) dot += q[((b * T + tq) * H + h) * dh + d] * k[((b * T + j) * K + maps[h]) * dh + d];
          P[row + j] = dot * s.scale;
          m = Math.max(m, P[row + j]);
        }
        let sum = 0;
        for (let j = j0; j <= tq; j++) sum += P[row + j] = Math.exp(P[row + j] - m);
        for (let j = j0; j <= tq; j++) P[row + j] /= sum;
      }
  return P;
}

export function contextRef(P: Vec, v: Vec, maps: Vec, s: AttentionRefShape): Float64Array {
  const { B, T, heads: H, vHeads: V, dh } = s;
  const a = new Float64Array(B * T * H * dh);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let d = 0; d < dh; d++) {
          let acc = 0;
          for (let j = 0; j <= t; j++) acc += P[((b * H + h) * T + t) * T + j] * v[((b * T + j) * V + maps[H + h]) * dh + d];
          a[((b * T + t) * H + h) * dh + d] = acc;
        }
  return a;
}

export function dscoresRef(P: Vec, dA: Vec, v: Vec, maps: Vec, s: AttentionRefShape): Float64Array {
  const { B, T, heads: H, vHeads: V, dh } = s;
  const dS = new Float64Array(B * H * T * T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let tq = 0; tq < T; tq++) {
        const row = ((b * H + h) * T + tq) * T;
        const dP = new Float64Array(T);
        let dot = 0;
        for (let j = 0; j <= tq; j++) {
          for (let d = 0; d < dh; d++) dP[j] += dA[((b * T + tq) * H + h) * dh + d] * v[((b * T + j) * V + maps[H + h]) * dh + d];
          dot += P[row + j] * dP[j];
        }
        for (let j = 0; j <= tq; j++) dS[row + j] = s.scale * P[row + j] * (dP[j] - dot);
      }
  return dS;
}

export function dkeysRef(dS: Vec, q: Vec, maps: Vec, s: AttentionRefShape): Float64Array {
  const { B, T, heads: H, kHeads: K, dh } = s;
  const g = new Float64Array(B * T * K * dh);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let tq = 0; tq < T; tq++)
        for (let tk = 0; tk <= tq; tk++) {
          const w = dS[((b * H + h) * T + tq) * T + tk];
          for (let d = 0; d < dh; d++) g[((b * T + tk) * K + maps[h]) * dh + d] += w * q[((b * T + tq) * H + h) * dh + d];
        }
  return g;
}

export function dvaluesRef(P: Vec, dA: Vec, maps: Vec, s: AttentionRefShape): Float64Array {
  const { B, T, heads: H, vHeads: V, dh } = s;
  const g = new Float64Array(B * T * V * dh);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let tq = 0; tq < T; tq++)
        for (let tk = 0; tk <= tq; tk++) {
          const w = P[((b * H + h) * T + tq) * T + tk];
          for (let d = 0; d < dh; d++) g[((b * T + tk) * V + maps[H + h]) * dh + d] += w * dA[((b * T + tq) * H + h) * dh + d];
        }
  return g;
}

export function adamRef(theta: Vec, g: Vec, m: Vec, v: Vec, t: number, h: { lr: number; beta1?: number; beta2?: number; eps?: number }) {
  const b1 = h.beta1 ?? 0.9;
  const b2 = h.beta2 ?? 0.999;
  const eps = h.eps ?? 1e-8;
  const n = theta.length;
  const out = { theta: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    out.m[i] = b1 * m[i] + (1 - b1) * g[i];
    out.v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    out.theta[i] = theta[i] - (h.lr * (out.m[i] / (1 - b1 ** t))) / (Math.sqrt(out.v[i] / (1 - b2 ** t)) + eps);
  }
  return out;
}

/**
 * The layer-local loss in float64 (docs/ALGORITHMS.md §4.3): ‖O_S − O_T‖² / ‖O_T‖² for one attention layer, given
 * X [B·T, D] and the target O_T.
 */
export function layerLossRef(
  layer: { wq: Vec; wk: Vec; wv: Vec; wo: Vec; bq?: Vec; bk?: Vec; bv?: Vec; bo?: Vec; kHeadOf: number[]; vHeadOf: number[]; kHeads: number; vHeads: number },
  c: { dim: number; heads: number; headDim: number; scale: number; window: number; rotDims: number; style: 'interleaved' | 'half'; cos: Vec; sin: Vec },
  X: Vec,
  target: Vec,
  B: number,
  T: number,
): number {
  const { dim: D, heads: H, headDim: dh } = c;
  const R = B * T;
  const lin = (w: Vec, b: Vec | undefined, out: number) => mulABt(X, w, R, out, D, { bias: b });
  const pos = (r: number) => r % T;
  const q = ropeRef(lin(layer.wq, layer.bq, H * dh), R, H, dh, c.rotDims, c.style, pos, c.cos, c.sin);
  const k = ropeRef(lin(layer.wk, layer.bk, layer.kHeads * dh), R, layer.kHeads, dh, c.rotDims, c.style, pos, c.cos, c.sin);
  const v = lin(layer.wv, layer.bv, layer.vHeads * dh);
  const s: AttentionRefShape = { B, T, heads: H, kHeads: layer.kHeads, vHeads: layer.vHeads, dh, window: c.window, scale: c.scale };
  const maps = [...layer.kHeadOf, ...layer.vHeadOf];
  const a = contextRef(probsRef(q, k, maps, s), v, maps, s);
  const y = mulABt(a, layer.wo, R, D, H * dh, { bias: layer.bo });
  let num = 0;
  let den = 0;
  for (let r = 0; r < R; r++)
    for (let o = 0; o < D; o++) {
      num += (y[r * D + o] - target[r * D + o]) ** 2;
      den += target[r * D + o] ** 2;
    }
  return num / den;
}

export function dqueriesRef(dS: Vec, k: Vec, maps: Vec, s: AttentionRefShape): Float64Array {
  const { B, T, heads: H, kHeads: K, dh } = s;
  const g = new Float64Array(B * T * H * dh);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let tq = 0; tq < T; tq++)
        for (let tk = 0; tk <= tq; tk++) {
          const w = dS[((b * H + h) * T + tq) * T + tk];
          for (let d = 0; d < dh; d++) g[((b * T + tq) * H + h) * dh + d] += w * k[((b * T + tk) * K + maps[h]) * dh + d];
        }
  return g;
}
