// Runner for shaders/reduce.wgsl: row sum and row max.
import code from '../../../shaders/reduce.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';

export type RowReduction = 'sum' | 'max';

export async function reduceRows(
  rt: GpuRuntime,
  op: RowReduction,
  x: GpuTensor,
  y: GpuTensor,
  rows: number,
  cols: number,
): Promise<void> {
  if (x.length < rows * cols) throw new RangeError(`reduceRows: "${x.label}" holds ${x.length} values, needs ${rows * cols}`);
  if (y.length < rows) throw new RangeError(`reduceRows: "${y.label}" holds ${y.length} values, needs ${rows}`);
  if (rows === 0) return;
  await rt.run(
    { code, label: `reduce-${op}`, constants: { OP: op === 'max' ? 1 : 0 } },
    { buffers: { x, y }, params: { rows, cols }, workgroups: rt.grid(rows) },
  );
}
