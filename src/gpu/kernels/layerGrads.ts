// Runners for the kernels of end-to-end training that the forward pass has no use for: norm backward (shaders/norm_grad.wgsl),
// MLP activation backward (shaders/elementwise.wgsl), the training losses (shaders/loss.wgsl), column sums for biases
// (shaders/reduce.wgsl) and the embedding backward (shaders/embed.wgsl). Float64 CPU references: src/reference/layerGrads.ts.
import normGradRaw from '../../../shaders/norm_grad.wgsl?raw';
import elementwiseCode from '../../../shaders/elementwise.wgsl?raw';
import lossRaw from '../../../shaders/loss.wgsl?raw';
import reduceRaw from '../../../shaders/reduce.wgsl?raw';
import embedCode from '../../../shaders/embed.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { need } from './check';
import { withWorkgroupReduce } from './wgsl';
import { rowVariantFor, type NormKind, type RowVariant } from './transformer';

const normGradCode = withWorkgroupReduce(normGradRaw);
const lossCode = withWorkgroupReduce(lossRaw);
const reduceCode = withWorkgroupReduce(reduceRaw);

export interface NormGradShape {
  rows: number;
  dim: number;
  eps: number;
}

/**
 * Backward of y = norm(x)·w (+ b): dx = … (accumulate: dx += …), and per-row statistics [rows, 2] (mean, 1/σ) that
 * normGainGrad reads.
 */
export async function normBackward(
  rt: GpuRuntime,
  kind: NormKind,
  x: GpuTensor,
  w: GpuTensor,
  dy: GpuTensor,
  dx: GpuTensor,
  stats: GpuTensor,
  s: NormGradShape & { accumulate: boolean },
  variant: RowVariant = rowVariantFor(rt),
) {
  need('norm backward', x, s.rows * s.dim);
  need('norm backward', dy, s.rows * s.dim);
  need('norm backward', dx, s.rows * s.dim);
  need('norm backward', stats, 2 * s.rows);
  const rows = variant === 'rows';
  await rt.run(
    { code: normGradCode, label: `${kind} backward`, entryPoint: rows ? 'rows' : 'main', constants: { KIND: kind === 'rmsnorm' ? 0 : 1 } },
    { buffers: { x, w, dy, dx, stats }, params: { ...s, accumulate: s.accumulate ? 1 : 0 }, workgroups: rt.grid(rows ? Math.ceil(s.rows / 64) : s.rows) },
  );
}

/** dw[c] += Σ_r dy[r, c] · x̂[r, c], with x̂ from the statistics normBackward wrote. */
export async function normGainGrad(rt: GpuRuntime, x: GpuTensor, dy: GpuTensor, stats: GpuTensor, dw: GpuTensor, s: NormGradShape) {
  need('norm gain grad', dw, s.dim);
  need('norm gain grad', stats, 2 * s.rows);
  await rt.run(
    { code: normGradCode, label: 'norm gain grad', entryPoint: 'gain' },
    { buffers: { x, dy, stats, dw }, params: { ...s, accumulate: 1 }, workgroups: [Math.ceil(s.dim / 64)] },
  );
}

/** y[c] += Σ_r x[r, c]: the gradient of a bias broadcast over rows. */
export async function columnSum(rt: GpuRuntime, x: GpuTensor, y: GpuTensor, rows: number, cols: number) {
  need('column sum', x, rows * cols);
  need('column sum', y, cols);
  await rt.run(
    { code: reduceCode, label: 'column sum', entryPoint: 'colsum' },
    { buffers: { x, y }, params: { rows, cols }, workgroups: rt.grid(Math.ceil(cols / 64)) },
  );
}

const WG = 256;

/** SwiGLU backward, a = silu(g)·u: dg = da·u·silu'(g), du = da·silu(g). */
export async function swigluGrad(rt: GpuRuntime, g: GpuTensor, u: GpuTensor, da: GpuTensor, dg: GpuTensor, du: GpuTensor, n: number) {
  for (const t of [g, u, da, dg, du]) need('swiglu grad', t, n);
  await rt.run(
    { code: elementwiseCode, label: 'swiglu grad', entryPoint: 'swigluGrad' },
    { buffers: { a: g, x2: u, dy: da, dx: dg, dx2: du }, params: { n, bLen: 1, alpha: 1 }, workgroups: rt.grid(Math.ceil(n / WG)) },
  );
}

/** GELU backward: du = da·gelu'(u), in the tanh or erf form. */
export async function geluGrad(rt: GpuRuntime, kind: 'gelu_tanh' | 'gelu_erf', u: GpuTensor, da: GpuTensor, du: GpuTensor, n: number) {
  for (const t of [u, da, du]) need('gelu grad', t, n);
  await rt.run(
    { code: elementwiseCode, label: `${kind} grad`, entryPoint: 'geluGrad', constants: { OP: kind === 'gelu_tanh' ? 2 : 3 } },
    { buffers: { a: u, dy: da, dx: du }, params: { n, bLen: 1, alpha: 1 }, workgroups: rt.grid(Math.ceil(n / WG)) },
  );
}

export interface LossShape {
  rows: number;
  vocab: number;
  /** Weight of KL(teacher ‖ student); 1 − klWeight goes to next-token cross-entropy. */
  klWeight: number;
  /** Factor on the gradient (1 / scored tokens of the whole step). */
  scale: number;
}

/**
 * Loss per row into rowLoss, and the logits overwritten by scale · ∂loss/∂logits. targets[r] = 0xFFFFFFFF leaves row r
 * unscored; a teacher is needed when klWeight > 0.
 */
export async function trainingLoss(
  rt: GpuRuntime,
  logits: GpuTensor,
  teacher: GpuTensor | null,
  targets: GpuTensor,
  rowLoss: GpuTensor,
  s: LossShape,
  variant: RowVariant = rowVariantFor(rt),
) {
  need('loss', logits, s.rows * s.vocab);
  need('loss', targets, s.rows);
  need('loss', rowLoss, s.rows);
  if (s.klWeight > 0) {
    if (!teacher) throw new Error("loss: KL distillation needs the teacher's logits");
    need('loss', teacher, s.rows * s.vocab);
  }
  const rows = variant === 'rows';
  await rt.run(
    { code: lossCode, label: rows ? 'loss-rows' : 'loss', entryPoint: rows ? 'rows' : 'main' },
    {
      buffers: { logits, teacher: s.klWeight > 0 ? teacher! : targets, targets, rowLoss },
      params: { ...s },
      workgroups: rt.grid(rows ? Math.ceil(s.rows / 64) : s.rows),
    },
  );
}

/** The rows of each distinct token id, for the race-free embedding backward: [ids…, starts…, rows…] and the count. */
export function tokenRows(ids: ArrayLike<number>): { csr: Uint32Array; distinct: number } {
  const byId = new Map<number, number[]>();
  for (let r = 0; r < ids.length; r++) {
    const list = byId.get(ids[r]);
    if (list) list.push(r);
    else byId.set(ids[r], [r]);
  }
  const U = byId.size;
  const csr = new Uint32Array(2 * U + 1 + ids.length);
  let k = 0;
  let j = 0;
  for (const [id, rows] of byId) {
    csr[k] = id;
    csr[U + k] = j;
    for (const r of rows) csr[2 * U + 1 + j++] = r;
    k++;
  }
  csr[2 * U] = j;
  return { csr, distinct: U };
}

/** dE[id, :] += Σ of dx's rows holding that id, from tokenRows' list (uploaded as csr). */
export async function embeddingGrad(rt: GpuRuntime, dx: GpuTensor, csr: GpuTensor, dE: GpuTensor, s: { rows: number; dim: number; distinct: number }) {
  need('embedding grad', dx, s.rows * s.dim);
  need('embedding grad', csr, 2 * s.distinct + 1 + s.rows);
  await rt.run(
    { code: embedCode, label: 'embedding grad', entryPoint: 'tokenGrad' },
    { buffers: { dx, csr, dE }, params: { rows: s.rows, dim: s.dim, distinct: s.distinct }, workgroups: rt.grid(Math.ceil((s.distinct * s.dim) / 64)) },
  );
}

/** dP[pos0 + t, :] += Σ_b dx[b·T + t, :] (learned positions). */
export async function positionGrad(rt: GpuRuntime, dx: GpuTensor, dP: GpuTensor, s: { rows: number; dim: number; T: number; pos0: number }) {
  need('position grad', dx, s.rows * s.dim);
  need('position grad', dP, (s.pos0 + s.T) * s.dim);
  await rt.run(
    { code: embedCode, label: 'position grad', entryPoint: 'positionGrad' },
    { buffers: { dx, dE: dP }, params: { ...s }, workgroups: rt.grid(Math.ceil((s.T * s.dim) / 64)) },
  );
}
