// Runner for shaders/elementwise.wgsl: activations and broadcast add / multiply.
import code from '../../../shaders/elementwise.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';

export const UNARY_OPS = { identity: 0, silu: 1, gelu_tanh: 2, gelu_erf: 3, exp: 4 } as const;
export type UnaryOp = keyof typeof UNARY_OPS;
export const BINARY_OPS = { add: 0, mul: 1, silu_mul: 2 } as const;
export type BinaryOp = keyof typeof BINARY_OPS;

const WG = 256;

/** y = f(alpha · x) over n values (alpha = 1: plain activation; identity with alpha: scaling). */
export async function unary(rt: GpuRuntime, op: UnaryOp, x: GpuTensor, y: GpuTensor, n = x.length, alpha = 1) {
  if (x.length < n || y.length < n) throw new RangeError(`unary ${op}: tensors hold fewer than ${n} values`);
  if (n === 0) return;
  await rt.run(
    { code, label: `unary-${op}`, entryPoint: 'unary', constants: { OP: UNARY_OPS[op] } },
    { buffers: { a: x, y }, params: { n, bLen: 1, alpha }, workgroups: rt.grid(Math.ceil(n / WG)) },
  );
}

/** y[i] = a[i] ∘ b[i mod b.length]: b shorter than a is broadcast over rows (a bias or a norm gain). */
export async function binary(rt: GpuRuntime, op: BinaryOp, a: GpuTensor, b: GpuTensor, y: GpuTensor, n = a.length, bLen = b.length) {
  if (a.length < n || y.length < n) throw new RangeError(`binary ${op}: tensors hold fewer than ${n} values`);
  if (bLen === 0 || n % bLen !== 0 || b.length < bLen) {
    throw new RangeError(`binary ${op}: "${b.label}" (${bLen} values) does not broadcast over ${n} values`);
  }
  if (n === 0) return;
  await rt.run(
    { code, label: `binary-${op}`, entryPoint: 'binary', constants: { OP: BINARY_OPS[op] } },
    { buffers: { a, b, y }, params: { n, bLen, alpha: 1 }, workgroups: rt.grid(Math.ceil(n / WG)) },
  );
}

/** y[i] += b[i mod b.length] in place: residual adds and biases. */
export async function accumulate(rt: GpuRuntime, y: GpuTensor, b: GpuTensor, n = y.length, bLen = b.length) {
  if (y.length < n) throw new RangeError(`accumulate: "${y.label}" holds fewer than ${n} values`);
  if (bLen === 0 || n % bLen !== 0 || b.length < bLen) {
    throw new RangeError(`accumulate: "${b.label}" (${bLen} values) does not broadcast over ${n} values`);
  }
  if (n === 0) return;
  await rt.run(
    { code, label: 'accumulate', entryPoint: 'accumulate' },
    { buffers: { b, y }, params: { n, bLen, alpha: 1 }, workgroups: rt.grid(Math.ceil(n / WG)) },
  );
}
