// Size checks shared by the kernel runners: a tensor too small for the shape fails before any dispatch, naming the tensor.
import type { GpuTensor } from '../runtime';

export function need(kernel: string, t: GpuTensor, n: number) {
  if (t.length < n) throw new RangeError(`${kernel}: tensor "${t.label}" holds ${t.length} values, needs ${n}`);
}
