// Runner for shaders/reduce.wgsl: row sum and row max (a workgroup per row on GPUs, a thread per row on CPU fallbacks).
import reduceRaw from '../../../shaders/reduce.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { rowVariantFor, type RowVariant } from './transformer';
import { withWorkgroupReduce } from './wgsl';

const code = withWorkgroupReduce(reduceRaw);

export type RowReduction = 'sum' | 'max';

export async function reduceRows(
  rt: GpuRuntime,
  op: RowReduction,
  x: GpuTensor,
  y: GpuTensor,
  rows: number,
  cols: number,
  variant: RowVariant = rowVariantFor(rt),
): Promise<void> {
  if (x.length < rows * cols) throw new RangeError(`reduceRows: "${x.label}" holds ${x.length} values, needs ${rows * cols}`);
  if (y.length < rows) throw new RangeError(`reduceRows: "${y.label}" holds ${y.length} values, needs ${rows}`);
  if (rows === 0) return;
  const perRow = variant === 'rows';
  await rt.run(
    { code, label: `reduce-${op}${perRow ? '-rows' : ''}`, entryPoint: perRow ? 'rows' : 'main', constants: { OP: op === 'max' ? 1 : 0 } },
    { buffers: { x, y }, params: { rows, cols }, workgroups: rt.grid(perRow ? Math.ceil(rows / 64) : rows) },
  );
}
