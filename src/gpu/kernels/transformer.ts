// Runners for the transformer kernels: embedding, RMSNorm/LayerNorm, rotary embedding with KV-cache scatter, causal
// attention through the head maps, and per-row NLL/argmax. Each has a float64 CPU reference in src/reference/transformer.ts.
import embedCode from '../../../shaders/embed.wgsl?raw';
import normRaw from '../../../shaders/norm.wgsl?raw';
import ropeCode from '../../../shaders/rope.wgsl?raw';
import attentionRaw from '../../../shaders/attention.wgsl?raw';
import flashRaw from '../../../shaders/attention_flash.wgsl?raw';
import nllCode from '../../../shaders/nll.wgsl?raw';
import columnsCode from '../../../shaders/columns.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { need } from './check';
import { specialize } from './specialize';
import { withAttentionForward, withWorkgroupReduce } from './wgsl';

const normCode = withWorkgroupReduce(normRaw);
const attentionCode = withAttentionForward(attentionRaw);
const flashCode = withAttentionForward(flashRaw);

/**
 * 'workgroup': cooperative kernels (a workgroup per row, reductions through workgroup memory) for GPUs; 'rows': one thread
 * per row without barriers, for CPU fallbacks such as SwiftShader, where barriers are costly.
 */
export type RowVariant = 'workgroup' | 'rows';

export function rowVariantFor(rt: GpuRuntime): RowVariant {
  return rt.summary.isFallbackAdapter ? 'rows' : 'workgroup';
}

/**
 * x[r] = E[ids[r]] (+ P[pos0 + r mod T]); P may be absent when positions are not learned. `part` says which vocabulary rows
 * E holds when the table is split across bindings (default: all of them).
 */
export async function embed(
  rt: GpuRuntime,
  ids: GpuTensor,
  E: GpuTensor,
  P: GpuTensor | null,
  x: GpuTensor,
  s: { rows: number; dim: number; T: number; pos0: number },
  part?: { rowStart: number; rowCount: number },
) {
  need('embed', x, s.rows * s.dim);
  need('embed', ids, s.rows);
  const rows = part ?? { rowStart: 0, rowCount: E.length / s.dim };
  await rt.run(
    { code: embedCode, label: 'embed' },
    { buffers: { ids, E, P: P ?? E, x }, params: { ...s, learned: P ? 1 : 0, ...rows }, workgroups: rt.grid(s.rows) },
  );
}

export type NormKind = 'rmsnorm' | 'layernorm';

export async function norm(
  rt: GpuRuntime,
  kind: NormKind,
  x: GpuTensor,
  w: GpuTensor,
  b: GpuTensor | null,
  y: GpuTensor,
  s: { rows: number; dim: number; eps: number },
  variant: RowVariant = rowVariantFor(rt),
) {
  need('norm', x, s.rows * s.dim);
  need('norm', y, s.rows * s.dim);
  if (kind === 'layernorm' && !b) throw new Error('norm: LayerNorm needs a bias tensor');
  const rows = variant === 'rows';
  await rt.run(
    { code: normCode, label: kind, entryPoint: rows ? 'rows' : 'main', constants: { KIND: kind === 'rmsnorm' ? 0 : 1 } },
    { buffers: { x, w, b: b ?? w, y }, params: s, workgroups: rt.grid(rows ? Math.ceil(s.rows / 64) : s.rows) },
  );
}

export interface RopeShape {
  B: number;
  T: number;
  heads: number;
  headDim: number;
  /** Dims of each head that rotate (even); 0 copies the rows. */
  rotDims: number;
  /** Position of the chunk's first row (the angle). */
  pos0: number;
  /** Rows per sequence in y (the cache length; T when y is a plain chunk). */
  yT: number;
  /** Row of y that receives the chunk's first row: pos0 for the KV cache, 0 for queries. */
  dstPos0: number;
  style: 'interleaved' | 'half';
  /** Rotate by −angle: the transpose of the rotation (the backward pass). */
  inverse?: boolean;
  /** u32 per (head, pair), [heads·rotDims/2]: 0 leaves that pair unrotated (partial RoPE of latent-KV layers). Absent: all rotate. */
  keep?: GpuTensor | null;
}

/** Rotates (or copies) x's rows, at positions pos0 + t, into y's rows dstPos0 + t of each sequence. */
export async function rope(rt: GpuRuntime, x: GpuTensor, cos: GpuTensor, sin: GpuTensor, y: GpuTensor, s: RopeShape) {
  const width = s.heads * s.headDim;
  need('rope', x, s.B * s.T * width);
  need('rope', y, s.B * s.yT * width);
  if (s.dstPos0 + s.T > s.yT) throw new RangeError(`rope: rows up to ${s.dstPos0 + s.T} do not fit ${s.yT} rows`);
  if (s.rotDims > 0) need('rope', cos, (s.pos0 + s.T) * (s.rotDims / 2));
  const masked = Boolean(s.keep) && s.rotDims > 0;
  if (masked) need('rope', s.keep!, (s.heads * s.rotDims) / 2);
  const perHead = s.rotDims / 2 + (s.headDim - s.rotDims);
  const items = s.B * s.T * s.heads * perHead;
  const { style, inverse, keep, ...params } = s;
  const entryPoint = masked ? 'masked' : 'main';
  await rt.run(
    {
      code: ropeCode,
      label: `${inverse ? 'rope-inverse' : 'rope'}${masked ? '-masked' : ''}`,
      entryPoint,
      constants: { STYLE: style === 'interleaved' ? 0 : 1 },
    },
    {
      buffers: { x, cosTable: cos, sinTable: sin, y, ...(masked ? { keep: keep! } : {}) },
      params: { ...params, inverse: inverse ? 1 : 0 },
      workgroups: rt.grid(Math.ceil(items / 64)),
    },
  );
}

/** y[r, j] = x[r, map[j]] for the columns j of y whose map entry is not NO_COLUMN (src/model/latent.ts); the rest stay. */
export async function gatherColumns(rt: GpuRuntime, x: GpuTensor, map: GpuTensor, y: GpuTensor, s: { rows: number; xWidth: number; yWidth: number }) {
  need('columns', x, s.rows * s.xWidth);
  need('columns', y, s.rows * s.yWidth);
  need('columns', map, s.yWidth);
  if (s.rows * s.yWidth === 0) return;
  await rt.run({ code: columnsCode, label: 'columns' }, { buffers: { x, map, y }, params: s, workgroups: rt.grid(Math.ceil((s.rows * s.yWidth) / 64)) });
}

export interface AttentionShape {
  B: number;
  T: number;
  pos0: number;
  heads: number;
  kHeads: number;
  vHeads: number;
  headDim: number;
  cacheT: number;
  /** 0: global; otherwise keys j > i − window only. */
  window: number;
  scale: number;
}

/**
 * 'flash': a block of 64 queries per workgroup sharing K/V tiles in workgroup memory (attention_flash.wgsl; head dims that
 * are multiples of 4); 'workgroup': one workgroup per query row; 'rows' (and rows16): one thread per query row, for CPU
 * fallbacks. GPUs take 'flash' for chunks of at least 16 positions and 'workgroup' for shorter ones (generation). CPU
 * fallbacks keep 'rows' for head dims up to 16 (vec4 registers; flash was 2× slower on tinystories-mha's forward on
 * SwiftShader) and take 'flash' above (2× faster than 'rows' at 12 × 64, 200 positions: docs/BENCHMARKS.md).
 */
export type AttentionVariant = RowVariant | 'flash';

export function attentionVariantFor(rt: GpuRuntime, s: { T: number; headDim: number }): AttentionVariant {
  const row = rowVariantFor(rt);
  const flashable = s.T >= 16 && s.headDim % 4 === 0;
  if (row === 'rows') return flashable && s.headDim > 16 ? 'flash' : 'rows';
  return flashable ? 'flash' : row;
}

/** The flash kernel's source for a head dim: its register rows and key tile sized as constants. */
function flashSource(headDim: number): { code: string; label: string } {
  const DH4 = headDim / 4;
  return { code: specialize(flashCode, { DH4, BK: Math.min(64, Math.floor(512 / DH4)) }), label: `attention-flash-dh${headDim}` };
}

export async function attention(
  rt: GpuRuntime,
  q: GpuTensor,
  kc: GpuTensor,
  vc: GpuTensor,
  maps: GpuTensor,
  out: GpuTensor,
  s: AttentionShape,
  variant: AttentionVariant = attentionVariantFor(rt, s),
) {
  if (s.headDim > 256) throw new RangeError(`attention: head dim ${s.headDim} is above the kernel's 256`);
  if (variant === 'flash' && s.headDim % 4 !== 0) throw new RangeError(`attention: the flash kernel needs a head dim divisible by 4; got ${s.headDim}`);
  need('attention', q, s.B * s.T * s.heads * s.headDim);
  need('attention', out, s.B * s.T * s.heads * s.headDim);
  need('attention', kc, s.B * s.cacheT * s.kHeads * s.headDim);
  need('attention', vc, s.B * s.cacheT * s.vHeads * s.headDim);
  need('attention', maps, 2 * s.heads);
  const buffers = { q, kc, vc, maps, out };
  if (variant === 'rows') {
    const small = s.headDim <= 16 && s.headDim % 4 === 0;
    const entryPoint = small ? 'rows16' : 'rows';
    await rt.run(
      { code: attentionCode, label: `attention-${entryPoint}`, entryPoint },
      { buffers, params: { ...s }, workgroups: rt.grid(Math.ceil((s.B * s.T * s.heads) / 64)) },
    );
  } else if (variant === 'flash') {
    await rt.run(flashSource(s.headDim), { buffers, params: { ...s }, workgroups: [Math.ceil(s.T / 64), s.heads, s.B] });
  } else {
    await rt.run({ code: attentionCode, label: 'attention' }, { buffers, params: { ...s }, workgroups: [s.T, s.heads, s.B] });
  }
}

/** nll[r] = logsumexp(logits[r]) − logits[r, targets[r]] (0 where the target is 0xFFFFFFFF); argmax[r]. */
export async function nllRows(
  rt: GpuRuntime,
  logits: GpuTensor,
  targets: GpuTensor,
  nll: GpuTensor,
  argmax: GpuTensor,
  s: { rows: number; vocab: number },
  variant: RowVariant = rowVariantFor(rt),
) {
  need('nll', logits, s.rows * s.vocab);
  need('nll', targets, s.rows);
  const rows = variant === 'rows';
  await rt.run(
    { code: nllCode, label: rows ? 'nll-rows' : 'nll', entryPoint: rows ? 'rows' : 'main' },
    { buffers: { logits, targets, nll, argmax }, params: s, workgroups: rt.grid(rows ? Math.ceil(s.rows / 64) : s.rows) },
  );
}

export const NO_TARGET = 0xffffffff;
