// The batched causal LM forward pass on the GPU, for every family the loaders accept: kernels are the only indirection.
// A ForwardPass owns reused activation buffers for B sequences of up to `chunk` positions and a KV cache of `cacheT`
// positions per layer (K and V stored once per KV head); longer documents run as consecutive chunks against the cache.
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { matmul } from '../gpu/kernels/matmul';
import { accumulate, binary, unary } from '../gpu/kernels/elementwise';
import { attention, embed, nllRows, norm, rope, NO_TARGET } from '../gpu/kernels/transformer';
import type { GpuModel } from './gpuModel';

export interface ForwardShape {
  /** Sequences per call. */
  batch: number;
  /** Most positions per call. */
  chunk: number;
  /** Positions the KV cache holds per sequence (≥ the longest sequence, ≤ the model's context). */
  cacheT: number;
}

/** The longest chunk whose logits [B·chunk, vocab] fit one storage binding. */
export function maxChunk(rt: GpuRuntime, vocab: number, batch: number, want: number): number {
  return Math.max(1, Math.min(want, Math.floor(rt.limits.maxStorageBufferBindingSize / (4 * vocab * batch))));
}

export interface ForwardHooks {
  /** Called with each layer's attention input X (after the norm), [rows, dim], before Q, K and V are computed. */
  attentionInput?: (layer: number, x: GpuTensor, rows: number) => Promise<void>;
  /** Stop after the last layer (calibration needs no logits). */
  skipLogits?: boolean;
}

export class ForwardPass {
  readonly gm: GpuModel;
  readonly shape: ForwardShape;
  private readonly rt: GpuRuntime;
  private readonly t: Record<string, GpuTensor> = {};
  private readonly kCache: GpuTensor[] = [];
  private readonly vCache: GpuTensor[] = [];
  /** Rows of the last call: B·T. */
  rows = 0;

  private constructor(gm: GpuModel, shape: ForwardShape) {
    this.gm = gm;
    this.rt = gm.rt;
    this.shape = shape;
  }

  static async create(gm: GpuModel, shape: ForwardShape): Promise<ForwardPass> {
    const c = gm.model.config;
    if (shape.cacheT > c.contextLength) {
      throw new RangeError(`A KV cache of ${shape.cacheT} positions is longer than the model's context of ${c.contextLength}`);
    }
    const f = new ForwardPass(gm, shape);
    const R = shape.batch * shape.chunk;
    const dh = c.headDim;
    const maxK = Math.max(...gm.layers.map((l) => l.kHeads));
    const maxV = Math.max(...gm.layers.map((l) => l.vHeads));
    const sizes: Record<string, number> = {
      x: R * c.dim, h: R * c.dim, o: R * c.dim, m: R * c.dim,
      qRaw: R * c.heads * dh, q: R * c.heads * dh, att: R * c.heads * dh,
      kRaw: R * maxK * dh, vRaw: R * maxV * dh,
      g: R * c.ffnDim, u: R * c.ffnDim, a: R * c.ffnDim,
      logits: R * c.vocab, nll: R,
    };
    try {
      for (const [name, n] of Object.entries(sizes)) f.t[name] = await f.rt.tensor(`forward ${name}`, n);
      f.t.ids = await f.rt.tensor('forward ids', new Uint32Array(R));
      f.t.targets = await f.rt.tensor('forward targets', new Uint32Array(R));
      f.t.argmax = await f.rt.tensor('forward argmax', new Uint32Array(R));
      for (const [i, l] of gm.layers.entries()) {
        f.kCache.push(await f.rt.tensor(`layers.${i} K cache`, shape.batch * shape.cacheT * l.kHeads * dh));
        f.vCache.push(await f.rt.tensor(`layers.${i} V cache`, shape.batch * shape.cacheT * l.vHeads * dh));
      }
    } catch (e) {
      f.release();
      throw e;
    }
    return f;
  }

  get logits(): GpuTensor {
    return this.t.logits;
  }

  /** Bytes of activations and KV cache this pass holds on the GPU. */
  get bytes(): number {
    return [...Object.values(this.t), ...this.kCache, ...this.vCache].reduce((s, t) => s + t.bytes, 0);
  }

  /**
   * One chunk: ids [B, T] (row b·T + t) at positions pos0 … pos0+T−1, after positions 0 … pos0−1 of the same sequences
   * were run into the cache. Leaves logits [B·T, vocab] in `logits`; with targets, per-row NLL and argmax too.
   */
  async run(ids: Uint32Array, T: number, pos0: number, targets?: Uint32Array, hooks: ForwardHooks = {}): Promise<void> {
    const { rt, gm, shape } = this;
    const c = gm.model.config;
    const B = shape.batch;
    const R = B * T;
    if (T < 1 || T > shape.chunk) throw new RangeError(`forward: ${T} positions per call; this pass takes 1 … ${shape.chunk}`);
    if (ids.length !== R) throw new RangeError(`forward: ${ids.length} ids for ${B} sequences × ${T} positions`);
    if (pos0 + T > shape.cacheT) throw new RangeError(`forward: positions up to ${pos0 + T} exceed the KV cache of ${shape.cacheT}`);
    for (const id of ids) if (id >= c.vocab) throw new RangeError(`forward: token id ${id} is outside the vocabulary of ${c.vocab}`);
    this.rows = R;
    const t = this.t;
    const dh = c.headDim;
    const D = c.dim;
    rt.upload(t.ids, ids);
    for (const part of gm.embed.parts) {
      await embed(rt, t.ids, part.tensor, gm.positionEmbed, t.x, { rows: R, dim: D, T, pos0 }, part);
    }
    const normed = (x: GpuTensor, w: GpuTensor, b: GpuTensor | null, y: GpuTensor) => norm(rt, c.norm, x, w, b, y, { rows: R, dim: D, eps: c.normEps });
    /** y[R, out] = x[R, in] · Wᵀ (+ bias): W is stored out × in. */
    const linear = async (x: GpuTensor, w: GpuTensor, bias: GpuTensor | null, y: GpuTensor, inDim: number, outDim: number) => {
      await matmul(rt, x, w, y, { M: R, N: outDim, K: inDim, transB: true });
      if (bias) await accumulate(rt, y, bias, R * outDim, outDim);
    };
    const style = c.positional.kind === 'rotary' ? c.positional.style : 'half';
    for (const [li, l] of gm.layers.entries()) {
      await normed(t.x, l.attnNormW, l.attnNormB, t.h);
      if (hooks.attentionInput) await hooks.attentionInput(li, t.h, R);
      await linear(t.h, l.wq, l.bq, t.qRaw, D, c.heads * dh);
      await linear(t.h, l.wk, l.bk, t.kRaw, D, l.kHeads * dh);
      await linear(t.h, l.wv, l.bv, t.vRaw, D, l.vHeads * dh);
      const rot = { B, T, headDim: dh, rotDims: gm.rotDims, pos0, style } as const;
      await rope(rt, t.qRaw, gm.cos, gm.sin, t.q, { ...rot, heads: c.heads, yT: T, dstPos0: 0 });
      await rope(rt, t.kRaw, gm.cos, gm.sin, this.kCache[li], { ...rot, heads: l.kHeads, yT: shape.cacheT, dstPos0: pos0 });
      await rope(rt, t.vRaw, gm.cos, gm.sin, this.vCache[li], { ...rot, rotDims: 0, heads: l.vHeads, yT: shape.cacheT, dstPos0: pos0 });
      await attention(rt, t.q, this.kCache[li], this.vCache[li], l.maps, t.att, {
        B, T, pos0, heads: c.heads, kHeads: l.kHeads, vHeads: l.vHeads, headDim: dh, cacheT: shape.cacheT,
        window: c.attentionWindow[li] ?? 0, scale: c.attentionScale,
      });
      await linear(t.att, l.wo, l.bo, t.o, c.heads * dh, D);
      if (c.parallelResidual) {
        await normed(t.x, l.mlpNormW, l.mlpNormB, t.h); // x + attn(ln1(x)) + mlp(ln2(x))
        await accumulate(rt, t.x, t.o, R * D, R * D);
      } else {
        await accumulate(rt, t.x, t.o, R * D, R * D);
        await normed(t.x, l.mlpNormW, l.mlpNormB, t.h);
      }
      if (c.mlp === 'swiglu') {
        await linear(t.h, l.gate!, l.gateBias, t.g, D, c.ffnDim);
        await linear(t.h, l.up, l.upBias, t.u, D, c.ffnDim);
        await binary(rt, 'silu_mul', t.g, t.u, t.a, R * c.ffnDim, R * c.ffnDim);
      } else {
        await linear(t.h, l.up, l.upBias, t.u, D, c.ffnDim);
        await unary(rt, c.mlp, t.u, t.a, R * c.ffnDim);
      }
      await linear(t.a, l.down, l.downBias, t.m, c.ffnDim, D);
      await accumulate(rt, t.x, t.m, R * D, R * D);
    }
    if (hooks.skipLogits) return;
    await normed(t.x, gm.finalNormW, gm.finalNormB, t.h);
    // logits[:, block] = h · lmHead[block]ᵀ, one block of vocabulary rows per storage binding
    for (const part of gm.lmHead.parts) {
      await matmul(rt, t.h, part.tensor, t.logits, { M: R, N: part.rowCount, K: D, transB: true, ldc: c.vocab, offsetC: part.rowStart });
    }
    if (gm.lmHeadBias) await accumulate(rt, t.logits, gm.lmHeadBias, R * c.vocab, c.vocab);
    if (targets) {
      if (targets.length !== R) throw new RangeError(`forward: ${targets.length} targets for ${R} rows`);
      rt.upload(t.targets, targets);
      await nllRows(rt, t.logits, t.targets, t.nll, t.argmax, { rows: R, vocab: c.vocab });
    }
  }

  readLogits(): Promise<Float32Array> {
    return this.rt.read(this.t.logits, this.rows * this.gm.model.config.vocab);
  }

  readNll(): Promise<Float32Array> {
    return this.rt.read(this.t.nll, this.rows);
  }

  readArgmax(): Promise<Uint32Array> {
    return this.rt.readU32(this.t.argmax, this.rows);
  }

  release() {
    for (const x of [...Object.values(this.t), ...this.kCache, ...this.vCache]) this.rt.release(x);
  }
}

export { NO_TARGET };
