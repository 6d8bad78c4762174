// The quantised KV cache of a forward pass (src/model/kvQuant.ts has the rule): for every layer, each cached tensor (K and V,
// or a latent layer's latent and rotary key dims) has packed codes and f16 scale/minimum words beside the float tensor
// attention reads. When a call's queries see a longer quantised prefix, the newly whole groups are packed (the cache as
// deployed) and dequantised back in place. Keys quantised before rotary are cached unrotated here (rawK) and rotated into
// the layer's K after each flush by the forward pass.
import type { GpuTensor, GpuRuntime } from '../gpu/runtime';
import { kvDequantise, kvQuantise } from '../gpu/kernels/kvQuant';
import { cachedTensors, packedLayout, quantisedChunk, quantisedPrefix, type CacheLayer, type KvQuant, type PackedLayout } from '../model/kvQuant';

/** One cached tensor: the float tensor attention reads, its packed codes and scales. */
interface Part {
  x: GpuTensor;
  layout: PackedLayout;
  codes: GpuTensor;
  params: GpuTensor;
}

/** A layer: its parts, its keys before rotary (keys quantised before it; else null), positions flushed so far. */
interface Layer {
  parts: Part[];
  rawK: GpuTensor | null;
  done: number;
}

/** A layer's float cache as the forward pass holds it. */
export interface FloatCache extends CacheLayer {
  k: GpuTensor;
  v: GpuTensor;
  c: GpuTensor | null;
  kr: GpuTensor | null;
}

export class QuantisedKvCache {
  private constructor(
    private readonly rt: GpuRuntime,
    readonly q: KvQuant,
    private readonly shape: { B: number; cacheT: number },
    private readonly layers: Layer[],
  ) {}

  /** Whether keys of head layers are cached before rotary (KVQuant's choice; models without rotary have one kind of key). */
  static preRotary(q: KvQuant, rotDims: number): boolean {
    return q.keyRope === 'pre' && rotDims > 0;
  }

  /** 4-byte words create() allocates: packed codes and scales of every part, and the unrotated keys. */
  static words(q: KvQuant, headDim: number, layers: CacheLayer[], B: number, cacheT: number, rotDims: number): number {
    return layers.reduce((s, l) => {
      const packed = cachedTensors(headDim, l, q).reduce((t, part) => {
        const p = packedLayout(q, part.axis, part.width, B, cacheT);
        return t + p.codeWords + p.paramWords;
      }, 0);
      return s + packed + (QuantisedKvCache.preRotary(q, rotDims) && !l.latent ? B * cacheT * l.kHeads * headDim : 0);
    }, 0);
  }

  /** Allocates through `tensor` (which owns what it makes) the packed buffers of every layer's float cache. */
  static async create(
    rt: GpuRuntime,
    q: KvQuant,
    headDim: number,
    layers: FloatCache[],
    shape: { B: number; cacheT: number; rotDims: number },
    tensor: (label: string, n: number | Uint32Array) => Promise<GpuTensor>,
  ): Promise<QuantisedKvCache> {
    const out: Layer[] = [];
    for (const [i, l] of layers.entries()) {
      const rawK =
        QuantisedKvCache.preRotary(q, shape.rotDims) && !l.latent
          ? await tensor(`layers.${i} K cache before rotary`, shape.B * shape.cacheT * l.kHeads * headDim)
          : null;
      const float = l.latent ? [l.c, l.kr] : [rawK ?? l.k, l.v];
      const parts: Part[] = [];
      for (const [j, t] of cachedTensors(headDim, l, q).entries()) {
        const layout = packedLayout(q, t.axis, t.width, shape.B, shape.cacheT);
        const codes = await tensor(`layers.${i} packed cache ${j}`, new Uint32Array(layout.codeWords));
        const params = await tensor(`layers.${i} cache scales ${j}`, new Uint32Array(layout.paramWords));
        parts.push({ x: float[j]!, layout, codes, params });
      }
      out.push({ parts, rawK, done: 0 });
    }
    return new QuantisedKvCache(rt, q, { B: shape.B, cacheT: shape.cacheT }, out);
  }

  /** Layer li's keys before rotary, when keys are quantised before it (the projection writes there). */
  rawK(li: number): GpuTensor | null {
    return this.layers[li].rawK;
  }

  /** Before a call of T positions from pos0: it must not straddle a flush; a call from 0 starts new sequences. */
  begin(pos0: number, T: number): void {
    if (quantisedChunk(pos0, T, this.q) < T)
      throw new RangeError(`forward: positions ${pos0} … ${pos0 + T - 1} straddle a flush of the quantised KV cache; split the call (quantisedChunk)`);
    if (pos0 === 0) for (const l of this.layers) l.done = 0;
  }

  /** Packs and dequantises in place the groups of layer li that the queries from pos0 on read quantised and that are not yet. */
  async flush(li: number, pos0: number): Promise<void> {
    const l = this.layers[li];
    const upTo = quantisedPrefix(pos0, this.q);
    if (upTo <= l.done) return;
    const range = { ...this.shape, from: l.done, to: upTo };
    for (const p of l.parts) {
      await kvQuantise(this.rt, p.x, p, p.layout, this.q, range);
      await kvDequantise(this.rt, p.x, p, p.layout, this.q, range);
    }
    l.done = upTo;
  }
}
