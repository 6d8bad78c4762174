// A layer's attention block around its core (attention.ts), forward and backward: the linear projections y = x·Wᵀ (+ b)
// (Q, K, V and W_O), the rotary step after them, the attention shape of a layer, and the backward of the block from the
// gradient of its output — W_O's weight gradients and da, the core's dq, dK, dV, the inverse rotation, then the projections'
// weight gradients and their input's gradient. One place for these: the forward pass (src/eval/forward.ts), end-to-end
// backward (src/train/backward.ts) and DHA's layer-local trainer (src/fusion/layerTrainer.ts) all run them.
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { matmul } from '../gpu/kernels/matmul';
import { rope } from '../gpu/kernels/transformer';
import { columnSum } from '../gpu/kernels/layerGrads';
import type { ModelConfig } from '../model/types';
import { attentionBackward, type AttentionInputs, type AttnGradShape } from './attention';
import { ropeShape, type RotarySetup } from './rotary';

/** y[rows, outDim] = x[rows, inDim] · Wᵀ (+ bias) (+ y with `accumulate`): W stored out × in; one dispatch. */
export function linear(
  rt: GpuRuntime,
  x: GpuTensor,
  w: GpuTensor,
  bias: GpuTensor | null,
  y: GpuTensor,
  rows: number,
  inDim: number,
  outDim: number,
  accumulate = false,
): Promise<void> {
  return matmul(rt, x, w, y, { M: rows, N: outDim, K: inDim, transB: true, beta: accumulate ? 1 : 0 }, undefined, bias);
}

/** Where a backward writes weight gradients: added to what they hold (micro-batches of one step) or replacing it. */
export type GradWrite = 'accumulate' | 'overwrite';

/**
 * The backward of y = x·Wᵀ (+ b) over `rows` rows: dW = dyᵀ·x, db = Σ_rows dy (added to, or replacing, what they hold: `grads`)
 * and dx = dy·W (added to dx with `accumulateDx`). A null tensor is not computed.
 */
export async function linearBackward(
  rt: GpuRuntime,
  rows: number,
  dy: GpuTensor,
  x: GpuTensor,
  w: GpuTensor,
  g: { dW: GpuTensor | null; db: GpuTensor | null; dx: GpuTensor | null },
  inDim: number,
  outDim: number,
  grads: GradWrite,
  accumulateDx = false,
): Promise<void> {
  const add = grads === 'accumulate';
  if (g.dW) await matmul(rt, dy, x, g.dW, { M: outDim, N: inDim, K: rows, transA: true, beta: add ? 1 : 0 });
  if (g.db) {
    if (!add) rt.zero(g.db);
    await columnSum(rt, dy, g.db, rows, outDim);
  }
  if (g.dx) await matmul(rt, dy, w, g.dx, { M: rows, N: inDim, K: outDim, beta: accumulateDx ? 1 : 0 });
}

/** The attention core's shape of a layer with these K/V head counts, for B sequences of T positions. */
export function attentionShape(c: ModelConfig, layer: number, kv: { kHeads: number; vHeads: number }, B: number, T: number): AttnGradShape {
  return {
    B,
    T,
    heads: c.heads,
    kHeads: kv.kHeads,
    vHeads: kv.vHeads,
    dh: c.headDim,
    window: c.attentionWindow[layer] ?? 0,
    scale: c.attentionScale,
  };
}

/**
 * y = rope(x·Wᵀ + b) for B sequences of T rows of `heads` heads: the projection into `raw` [B·T, heads·dh], then its rows
 * rotated at positions pos0 + t into y (rows dstPos0 + t of each sequence of yT rows; defaults: a plain chunk, as queries).
 */
export async function rotatedProjection(
  rt: GpuRuntime,
  rotary: RotarySetup,
  x: GpuTensor,
  w: GpuTensor,
  bias: GpuTensor | null,
  raw: GpuTensor,
  y: GpuTensor,
  s: { B: number; T: number; heads: number; headDim: number; inDim: number; pos0?: number; yT?: number; dstPos0?: number; keep?: GpuTensor | null },
): Promise<void> {
  await linear(rt, x, w, bias, raw, s.B * s.T, s.inDim, s.heads * s.headDim);
  await rope(rt, raw, rotary.cos, rotary.sin, y, ropeShape(rotary, s));
}

/** The projections of one attention block (its K/V projections null where another path computes K and V, as in a latent layer). */
export interface BlockWeights {
  wq: GpuTensor;
  wk: GpuTensor | null;
  wv: GpuTensor | null;
  wo: GpuTensor;
}

/** Gradients of a block's weights and biases; null: not differentiated. */
export interface BlockGrads {
  wq: GpuTensor | null;
  wk: GpuTensor | null;
  wv: GpuTensor | null;
  wo: GpuTensor | null;
  bq: GpuTensor | null;
  bk: GpuTensor | null;
  bv: GpuTensor | null;
  bo: GpuTensor | null;
}

/**
 * The backward of an attention block over whole sequences (R = B·T rows), from dOut, the gradient of o = att·W_Oᵀ (+ b_O):
 *   dW_O, db_O and datt = dOut·W_O; dq, dK, dV (attention.ts: flash-style or through the probabilities, `probsKept` when P
 *   holds this forward's); dqRaw and dkRaw by the inverse rotation (dq only with `needDq`: the flash path always computes it);
 *   then dW_Q, db_Q and dx = dqRaw·W_Q, and the K and V projections' — dx accumulated after Q's — unless `kv` replaces them
 *   (a latent layer's own path, given dkRaw and dv). dx null: the input's gradient is not needed.
 * `x` is the block's input [R, inDim]; the scratch holds datt, dq, dqRaw, dk, dkRaw, dv and attentionScratch's tensors.
 */
export async function attentionBlockBackward(
  rt: GpuRuntime,
  p: {
    shape: AttnGradShape;
    inDim: number;
    rotary: RotarySetup;
    weights: BlockWeights;
    io: AttentionInputs & { x: GpuTensor; att: GpuTensor };
    dOut: GpuTensor;
    grads: BlockGrads;
    scratch: Record<string, GpuTensor>;
    dx: GpuTensor | null;
    grad: GradWrite;
    flash: boolean;
    probsKept?: boolean;
    needDq?: boolean;
    keep?: { q?: GpuTensor | null; k?: GpuTensor | null };
    kv?: (dkRaw: GpuTensor, dv: GpuTensor) => Promise<void>;
  },
): Promise<void> {
  const { shape: s, inDim: D, weights: w, grads: g, scratch: d, io } = p;
  const R = s.B * s.T;
  const HD = s.heads * s.dh;
  const needDq = p.needDq ?? true;
  // o = att · W_Oᵀ (+ b_O)
  await linearBackward(rt, R, p.dOut, io.att, w.wo, { dW: g.wo, db: g.bo, dx: d.datt }, HD, D, p.grad);
  // att = softmax(scale · q kᵀ + mask) v through the head maps
  const core = { q: io.q, k: io.k, v: io.v, a: io.att, dA: d.datt, maps: io.maps };
  await attentionBackward(rt, core, { dq: needDq || p.flash ? d.dq : null, dk: d.dk, dv: d.dv }, d, s, p.flash, p.probsKept ?? false);
  // q = rope(qRaw), k = rope(kRaw): the transpose of a rotation is the rotation by −angle
  const rot = { B: s.B, T: s.T, headDim: s.dh, inverse: true };
  if (needDq) await rope(rt, d.dq, p.rotary.cos, p.rotary.sin, d.dqRaw, ropeShape(p.rotary, { ...rot, heads: s.heads, keep: p.keep?.q }));
  await rope(rt, d.dk, p.rotary.cos, p.rotary.sin, d.dkRaw, ropeShape(p.rotary, { ...rot, heads: s.kHeads, keep: p.keep?.k }));
  // qRaw, kRaw, v = x · W_{q,k,v}ᵀ (+ b)
  if (needDq) await linearBackward(rt, R, d.dqRaw, io.x, w.wq, { dW: g.wq, db: g.bq, dx: p.dx }, D, HD, p.grad);
  if (p.kv) {
    await p.kv(d.dkRaw, d.dv);
    return;
  }
  const acc = needDq;
  await linearBackward(rt, R, d.dkRaw, io.x, w.wk!, { dW: g.wk, db: g.bk, dx: p.dx }, D, s.kHeads * s.dh, p.grad, acc);
  await linearBackward(rt, R, d.dv, io.x, w.wv!, { dW: g.wv, db: g.bv, dx: p.dx }, D, s.vHeads * s.dh, p.grad, true);
}
