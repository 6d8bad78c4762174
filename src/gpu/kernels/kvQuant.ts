// Runner for shaders/kv_quant.wgsl: a cached tensor's positions quantised into packed codes and each group's f16 minimum
// and scale (the cache as deployed), and dequantised back into the float tensor attention reads.
import code from '../../../shaders/kv_quant.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { need } from './check';
import type { KvQuant, PackedLayout } from '../../model/kvQuant';

const WG = 64;

/** Where a tensor [B, cacheT, width] is packed and which positions a call quantises. */
export interface QuantRange {
  B: number;
  cacheT: number;
  from: number;
  to: number;
}

function groupsIn(l: PackedLayout, r: QuantRange, G: number): number {
  return l.axis === 'channel' ? r.B * Math.ceil((r.to - r.from) / G) * l.width : r.B * (r.to - r.from) * l.groupRows;
}

async function dispatch(
  rt: GpuRuntime,
  entryPoint: 'quantise' | 'dequantise',
  x: GpuTensor,
  packed: { codes: GpuTensor; params: GpuTensor },
  l: PackedLayout,
  q: Pick<KvQuant, 'bits' | 'group' | 'keepSink'>,
  r: QuantRange,
): Promise<void> {
  const G = q.group;
  if (r.from < 0 || r.to > r.cacheT || r.from > r.to) throw new RangeError(`kv ${entryPoint}: positions ${r.from} … ${r.to} outside 0 … ${r.cacheT}`);
  if (l.axis === 'channel' && (r.from % G !== 0 || (r.to % G !== 0 && r.to !== r.cacheT))) {
    throw new RangeError(`kv ${entryPoint}: per-channel groups need whole groups of ${G}; got positions ${r.from} … ${r.to}`);
  }
  need(`kv ${entryPoint}`, x, r.B * r.cacheT * l.width);
  need(`kv ${entryPoint}`, packed.codes, l.codeWords);
  need(`kv ${entryPoint}`, packed.params, l.paramWords);
  const groups = groupsIn(l, r, G);
  if (groups === 0) return;
  await rt.run(
    { code, label: `kv-${entryPoint}-${l.axis}`, entryPoint, constants: { AXIS: l.axis === 'channel' ? 0 : 1 } },
    {
      buffers: { x, codes: packed.codes, params: packed.params },
      params: {
        B: r.B,
        cacheT: r.cacheT,
        W: l.width,
        G,
        bits: q.bits,
        first: r.from,
        end: r.to,
        groupRows: l.groupRows,
        wordsPerGroup: l.wordsPerGroup,
        sink: q.keepSink ? 1 : 0,
        groups,
      },
      workgroups: rt.grid(Math.ceil(groups / WG)),
    },
  );
}

/** Packs positions from … to−1 of x [B, cacheT, width] into codes and params (the layout's sizes). */
export function kvQuantise(rt: GpuRuntime, x: GpuTensor, packed: { codes: GpuTensor; params: GpuTensor }, l: PackedLayout, q: KvQuant, r: QuantRange) {
  return dispatch(rt, 'quantise', x, packed, l, q, r);
}

/** Writes positions from … to−1 of x back from their codes: what a quantised cache hands attention. */
export function kvDequantise(rt: GpuRuntime, x: GpuTensor, packed: { codes: GpuTensor; params: GpuTensor }, l: PackedLayout, q: KvQuant, r: QuantRange) {
  return dispatch(rt, 'dequantise', x, packed, l, q, r);
}
