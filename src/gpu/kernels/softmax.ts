// Runner for shaders/softmax.wgsl: numerically stable row softmax of scale·x.
import softmaxRaw from '../../../shaders/softmax.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { withWorkgroupReduce } from './wgsl';

const code = withWorkgroupReduce(softmaxRaw);

export async function softmaxRows(rt: GpuRuntime, x: GpuTensor, y: GpuTensor, rows: number, cols: number, scale = 1): Promise<void> {
  if (x === y) throw new Error('softmaxRows: x and y must be different tensors');
  if (x.length < rows * cols || y.length < rows * cols) {
    throw new RangeError(`softmaxRows: "${x.label}"/"${y.label}" hold fewer than ${rows * cols} values`);
  }
  if (rows === 0 || cols === 0) return;
  await rt.run({ code, label: 'softmax' }, { buffers: { x, y }, params: { rows, cols, scale }, workgroups: rt.grid(rows) });
}
