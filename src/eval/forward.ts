// The batched causal LM forward pass on the GPU, for every family the loaders accept: kernels are the only indirection.
// A ForwardPass owns reused activation buffers for B sequences of up to `chunk` positions and a KV cache of `cacheT`
// positions per layer (K and V stored once per KV head); longer documents run as consecutive chunks against the cache.
// A latent-KV (MLA) layer caches its latent and its kept rotary key dims instead, and rebuilds the layer's keys and values
// from them for every chunk (into K/V buffers that are scratch there, shared across latent layers when evaluating).
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { matmul } from '../gpu/kernels/matmul';
import { accumulate, binary, unary } from '../gpu/kernels/elementwise';
import { embed, gatherColumns, nllRows, norm, rope, NO_TARGET } from '../gpu/kernels/transformer';
import { attentionForward } from './attention';
import { attentionShape, linear as linearRows, rotatedProjection } from './attentionBlock';
import { ropeShape } from './rotary';
import type { GpuLatentLayout, GpuModel } from './gpuModel';
import type { ModelConfig } from '../model/types';
import { quantises, type KvQuant } from '../model/kvQuant';
import { QuantisedKvCache } from './kvCache';
import { rotaryDims } from '../model/rotary';

export interface ForwardShape {
  /** Sequences per call. */
  batch: number;
  /** Most positions per call. */
  chunk: number;
  /** Positions the KV cache holds per sequence (≥ the longest sequence, ≤ the model's context). */
  cacheT: number;
  /**
   * Training: keep what the backward pass (src/train/backward.ts) reads — one set of activations per layer instead of one
   * shared set, the residual stream at each norm's input, the KV cache as the layer's keys and values. Calls then run whole
   * sequences from position 0 (cacheT = chunk).
   */
  keep?: boolean;
  /**
   * A quantised KV cache (src/model/kvQuant.ts; evaluation only): each layer's cached tensors are packed group by group as
   * the schedule flushes them and dequantised back for attention. Calls must not straddle a flush (quantisedChunk).
   */
  kvQuant?: KvQuant | null;
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

/**
 * What one layer's forward writes and its backward reads (R = B·T rows). Evaluation shares one set across layers and keeps
 * no residual copies; training keeps a set per layer.
 */
export interface LayerActivations {
  /** Residual stream entering the layer [R, dim] (training only). */
  x0: GpuTensor | null;
  /** Attention input norm1(x0) [R, dim]. */
  h1: GpuTensor;
  /** Rotated queries [R, heads·dh]; the rotated keys and the values are the layer's KV cache. */
  q: GpuTensor;
  /** Attention output before W_O [R, heads·dh]. */
  att: GpuTensor;
  /** Residual stream after attention [R, dim], the MLP norm's input in the sequential layout (training only). */
  x1: GpuTensor | null;
  /** MLP input [R, dim]: norm2(x1), or norm2(x0) with a parallel residual. */
  h2: GpuTensor;
  /** SwiGLU's gate pre-activation (null for GELU MLPs), the up projection and the activation output [R, ffn]. */
  g: GpuTensor | null;
  u: GpuTensor;
  a: GpuTensor;
}

/** What a layer's KV cache is made of: its K and V head counts and, for a latent layer, the latent's sizes. */
export interface LayerKvShape {
  kHeads: number;
  vHeads: number;
  latent?: Pick<GpuLatentLayout, 'rank' | 'nope' | 'rope'> | null;
}

export class ForwardPass {
  readonly gm: GpuModel;
  readonly shape: ForwardShape;
  private readonly rt: GpuRuntime;
  private readonly t: Record<string, GpuTensor> = {};
  private readonly owned: GpuTensor[] = [];
  /** Per layer, its keys (after rotary) and values [B, cacheT, k|vHeads·dh]: the cache, or a latent layer's rebuilt K and V. */
  readonly kCache: GpuTensor[] = [];
  readonly vCache: GpuTensor[] = [];
  /** Latent layers: the cached latent [B, cacheT, rank] and kept rotary key dims before rotation [B, cacheT, kHeads·2r] (null elsewhere). */
  readonly cCache: (GpuTensor | null)[] = [];
  readonly krCache: (GpuTensor | null)[] = [];
  /** The quantised cache beside the float one (src/eval/kvCache.ts); null: the plain cache. */
  private kvq: QuantisedKvCache | null = null;
  /** Per layer (the same object for every layer when evaluating). */
  readonly acts: LayerActivations[] = [];
  /** The residual stream entering the final norm (training only) and the norm's output. */
  readonly final: { x: GpuTensor | null; h: GpuTensor } = { x: null, h: null as unknown as GpuTensor };
  /** Rows of the last call: B·T. */
  rows = 0;
  /** Positions per sequence and token ids of the last call (the backward pass of the embedding reads them). */
  T = 0;
  ids: Uint32Array = new Uint32Array(0);

  private constructor(gm: GpuModel, shape: ForwardShape) {
    this.gm = gm;
    this.rt = gm.rt;
    this.shape = shape;
  }

  private async tensor(label: string, n: number | Uint32Array): Promise<GpuTensor> {
    const x = await this.rt.tensor(label, n);
    this.owned.push(x);
    return x;
  }

  /** Bytes create() allocates for a model of this config and these per-layer K/V head counts and latents (a memory plan). */
  static bytesFor(c: ModelConfig, kvHeads: LayerKvShape[], shape: ForwardShape): number {
    const R = shape.batch * shape.chunk;
    const BT = shape.batch * shape.cacheT;
    const { dim: D, headDim: dh, ffnDim: F } = c;
    const HD = c.heads * dh;
    const maxK = Math.max(...kvHeads.map((l) => l.kHeads));
    const shared = R * D + R * HD + R * maxK * dh + R * c.vocab + 4 * R;
    const keep = Boolean(shape.keep);
    const acts = R * D * (keep ? (c.parallelResidual ? 3 : 4) : 1) + 2 * R * HD + (c.mlp === 'swiglu' ? 3 : 2) * R * F;
    const latents = kvHeads.filter((l) => l.latent);
    const heads = (l: LayerKvShape) => BT * (l.kHeads + l.vHeads) * dh;
    const own = (l: LayerKvShape) => (l.latent ? BT * (l.latent.rank + l.kHeads * l.latent.rope) : 0);
    const cache = kvHeads.reduce((s, l) => s + own(l) + (l.latent && !keep ? 0 : heads(l)), 0);
    const most = (f: (l: LayerKvShape) => number) => Math.max(...latents.map(f));
    const rebuilt = latents.length
      ? BT * most((l) => l.kHeads) * dh * (keep ? 1 : 2) +
        Math.max(1, BT * most((l) => l.kHeads * l.latent!.nope)) +
        (keep ? 0 : BT * most((l) => l.vHeads) * dh)
      : 0;
    const final = keep ? 2 * R * D : 0;
    const q = shape.kvQuant;
    const packed = quantises(q) ? QuantisedKvCache.words(q, dh, kvHeads, shape.batch, shape.cacheT, rotaryDims(c)) : 0;
    return 4 * (shared + acts * (keep ? kvHeads.length : 1) + cache + rebuilt + final + packed);
  }

  static async create(gm: GpuModel, shape: ForwardShape): Promise<ForwardPass> {
    const c = gm.model.config;
    if (shape.cacheT > c.contextLength) {
      throw new RangeError(`A KV cache of ${shape.cacheT} positions is longer than the model's context of ${c.contextLength}`);
    }
    if (shape.keep && shape.cacheT !== shape.chunk) throw new RangeError('a training forward runs whole sequences: cacheT must equal chunk');
    const f = new ForwardPass(gm, shape);
    const R = shape.batch * shape.chunk;
    const D = c.dim;
    const HD = c.heads * c.headDim;
    const F = c.ffnDim;
    const maxK = Math.max(...gm.layers.map((l) => l.kHeads));
    try {
      const sizes: Record<string, number> = { x: R * D, qRaw: R * HD, kRaw: R * maxK * c.headDim, logits: R * c.vocab, nll: R };
      for (const [name, n] of Object.entries(sizes)) f.t[name] = await f.tensor(`forward ${name}`, n);
      f.t.ids = await f.tensor('forward ids', new Uint32Array(R));
      f.t.targets = await f.tensor('forward targets', new Uint32Array(R));
      f.t.argmax = await f.tensor('forward argmax', new Uint32Array(R));
      const activations = async (p: string, keep: boolean): Promise<LayerActivations> => {
        const h1 = await f.tensor(`${p} h1`, R * D);
        return {
          x0: keep ? await f.tensor(`${p} x0`, R * D) : null,
          h1,
          q: await f.tensor(`${p} q`, R * HD),
          att: await f.tensor(`${p} att`, R * HD),
          x1: keep && !c.parallelResidual ? await f.tensor(`${p} x1`, R * D) : null,
          h2: keep ? await f.tensor(`${p} h2`, R * D) : h1,
          g: c.mlp === 'swiglu' ? await f.tensor(`${p} gate`, R * F) : null,
          u: await f.tensor(`${p} up`, R * F),
          a: await f.tensor(`${p} act`, R * F),
        };
      };
      const shared = shape.keep ? null : await activations('forward', false);
      const BT = shape.batch * shape.cacheT;
      const latents = gm.layers.filter((l) => l.latent);
      if (latents.length) {
        // a latent layer's keys before rotary and its latent part [B·cacheT, kHeads·(dh or nope)], shared by every latent layer
        f.t.kRawAll = await f.tensor('latent keys before rotary', BT * Math.max(...latents.map((l) => l.kHeads)) * c.headDim);
        f.t.kNope = await f.tensor('latent key part', Math.max(1, BT * Math.max(...latents.map((l) => l.kHeads * l.latent!.nope))));
        if (!shape.keep) {
          f.t.kRebuilt = await f.tensor('latent K', BT * Math.max(...latents.map((l) => l.kHeads)) * c.headDim);
          f.t.vRebuilt = await f.tensor('latent V', BT * Math.max(...latents.map((l) => l.vHeads)) * c.headDim);
        }
      }
      for (const [i, l] of gm.layers.entries()) {
        f.acts.push(shared ?? (await activations(`layers.${i}`, true)));
        const L = l.latent;
        const rebuilt = L && !shape.keep;
        f.kCache.push(rebuilt ? f.t.kRebuilt : await f.tensor(`layers.${i} K cache`, BT * l.kHeads * c.headDim));
        f.vCache.push(rebuilt ? f.t.vRebuilt : await f.tensor(`layers.${i} V cache`, BT * l.vHeads * c.headDim));
        f.cCache.push(L ? await f.tensor(`layers.${i} latent cache`, BT * L.rank) : null);
        f.krCache.push(L && L.rope ? await f.tensor(`layers.${i} rotary key cache`, BT * l.kHeads * L.rope) : null);
      }
      const q = shape.kvQuant;
      if (quantises(q)) {
        if (shape.keep) throw new RangeError('a quantised KV cache is for evaluation and generation, not for a training forward');
        const layers = gm.layers.map((l, i) => ({ ...l, k: f.kCache[i], v: f.vCache[i], c: f.cCache[i], kr: f.krCache[i] }));
        const sizes = { B: shape.batch, cacheT: shape.cacheT, rotDims: gm.rotary.rotDims };
        f.kvq = await QuantisedKvCache.create(gm.rt, q, c.headDim, layers, sizes, (label, n) => f.tensor(label, n));
      }
      f.final.x = shape.keep ? await f.tensor('final x', R * D) : null;
      f.final.h = shape.keep ? await f.tensor('final h', R * D) : f.acts[0].h1;
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
    return this.owned.reduce((s, t) => s + t.bytes, 0);
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
    if (shape.keep && pos0 !== 0) throw new RangeError('forward: a training forward runs whole sequences from position 0');
    for (const id of ids) if (id >= c.vocab) throw new RangeError(`forward: token id ${id} is outside the vocabulary of ${c.vocab}`);
    this.kvq?.begin(pos0, T);
    this.rows = R;
    this.T = T;
    this.ids = ids;
    const t = this.t;
    const dh = c.headDim;
    const D = c.dim;
    rt.upload(t.ids, ids);
    for (const part of gm.embed.parts) {
      await embed(rt, t.ids, part.tensor, gm.positionEmbed, t.x, { rows: R, dim: D, T, pos0 }, part);
    }
    const normed = (x: GpuTensor, w: GpuTensor, b: GpuTensor | null, y: GpuTensor) => norm(rt, c.norm, x, w, b, y, { rows: R, dim: D, eps: c.normEps });
    /** y[R, out] = x[R, in] · Wᵀ (+ bias) (+ y with `residual`): W is stored out × in; one dispatch. */
    const linear = (x: GpuTensor, w: GpuTensor, bias: GpuTensor | null, y: GpuTensor, inDim: number, outDim: number, residual = false) =>
      linearRows(rt, x, w, bias, y, R, inDim, outDim, residual);
    /** Training keeps a copy of the residual stream where a norm reads it. */
    const keep = (x: GpuTensor | null) => x && rt.copy(t.x, x, R * D);
    for (const [li, l] of gm.layers.entries()) {
      const s = this.acts[li];
      keep(s.x0);
      await normed(t.x, l.attnNormW, l.attnNormB, s.h1);
      if (hooks.attentionInput) await hooks.attentionInput(li, s.h1, R);
      const rot = { B, T, headDim: dh, inDim: D, pos0 };
      await rotatedProjection(rt, gm.rotary, s.h1, l.wq, l.bq, t.qRaw, s.q, { ...rot, heads: c.heads, keep: l.latent?.keepQ });
      // V (and K without rotary) straight into the cache: one product per sequence, rows pos0 … pos0+T−1 of its block.
      const intoCache = (w: GpuTensor, bias: GpuTensor | null, cache: GpuTensor, n: number) =>
        matmul(
          rt,
          s.h1,
          w,
          cache,
          { M: T, N: n, K: D, transB: true, batch: B, strideA: T * D, strideB: 0, strideC: shape.cacheT * n, offsetC: pos0 * n },
          undefined,
          bias,
        );
      const rawK = this.kvq?.rawK(li) ?? null;
      if (l.latent) {
        await this.latentKv(li, pos0, intoCache);
      } else if (rawK) {
        // keys quantised before rotary: the cache holds them unrotated; every cached position is rotated after the flush
        await intoCache(l.wk!, l.bk, rawK, l.kHeads * dh);
      } else if (gm.rotary.rotDims > 0) {
        await rotatedProjection(rt, gm.rotary, s.h1, l.wk!, l.bk, t.kRaw, this.kCache[li], { ...rot, heads: l.kHeads, yT: shape.cacheT, dstPos0: pos0 });
      } else {
        await intoCache(l.wk!, l.bk, this.kCache[li], l.kHeads * dh);
      }
      if (!l.latent) {
        await intoCache(l.wv!, l.bv, this.vCache[li], l.vHeads * dh);
        await this.kvq?.flush(li, pos0);
      }
      if (rawK) await rope(rt, rawK, gm.rotary.cos, gm.rotary.sin, this.kCache[li], ropeShape(gm.rotary, { B, T: shape.cacheT, headDim: dh, heads: l.kHeads }));
      await attentionForward(rt, { q: s.q, k: this.kCache[li], v: this.vCache[li], maps: l.maps }, s.att, {
        ...attentionShape(c, li, l, B, T),
        pos0,
        cacheT: shape.cacheT,
      });
      if (c.parallelResidual) {
        await normed(t.x, l.mlpNormW, l.mlpNormB, s.h2); // x + attn(ln1(x)) + mlp(ln2(x))
        await linear(s.att, l.wo, l.bo, t.x, c.heads * dh, D, true);
      } else {
        await linear(s.att, l.wo, l.bo, t.x, c.heads * dh, D, true);
        keep(s.x1);
        await normed(t.x, l.mlpNormW, l.mlpNormB, s.h2);
      }
      if (s.g) {
        await linear(s.h2, l.gate!, l.gateBias, s.g, D, c.ffnDim);
        await linear(s.h2, l.up, l.upBias, s.u, D, c.ffnDim);
        await binary(rt, 'silu_mul', s.g, s.u, s.a, R * c.ffnDim, R * c.ffnDim);
      } else {
        await linear(s.h2, l.up, l.upBias, s.u, D, c.ffnDim);
        await unary(rt, c.mlp as 'gelu_tanh' | 'gelu_erf', s.u, s.a, R * c.ffnDim);
      }
      await linear(s.a, l.down, l.downBias, t.x, c.ffnDim, D, true);
    }
    if (hooks.skipLogits) return;
    keep(this.final.x);
    await normed(t.x, gm.finalNormW, gm.finalNormB, this.final.h);
    // logits[:, block] = h · lmHead[block]ᵀ, one block of vocabulary rows per storage binding
    for (const part of gm.lmHead.parts) {
      await matmul(rt, this.final.h, part.tensor, t.logits, { M: R, N: part.rowCount, K: D, transB: true, ldc: c.vocab, offsetC: part.rowStart });
    }
    if (gm.lmHeadBias) await accumulate(rt, t.logits, gm.lmHeadBias, R * c.vocab, c.vocab);
    if (targets) {
      if (targets.length !== R) throw new RangeError(`forward: ${targets.length} targets for ${R} rows`);
      rt.upload(t.targets, targets);
      await nllRows(rt, t.logits, t.targets, t.nll, t.argmax, { rows: R, vocab: c.vocab });
    }
  }

  /**
   * A latent layer (types.ts LatentKv): the chunk's latent and rotary key dims into their caches, then the layer's keys and
   * values rebuilt from the whole cache — K = rope on kept pairs(columns of c·W_ukᵀ and of the rotary part) + bk, V = c·W_uvᵀ + bv.
   */
  private async latentKv(li: number, pos0: number, intoCache: (w: GpuTensor, bias: GpuTensor | null, cache: GpuTensor, n: number) => Promise<void>) {
    const { rt, gm, shape, t } = this;
    const l = gm.layers[li];
    const L = l.latent!;
    const c = gm.model.config;
    const dh = c.headDim;
    const BT = shape.batch * shape.cacheT;
    const kW = l.kHeads * dh;
    const cc = this.cCache[li]!;
    await intoCache(l.wdkv!, null, cc, L.rank);
    if (L.rope) await intoCache(l.wkr!, null, this.krCache[li]!, l.kHeads * L.rope);
    await this.kvq?.flush(li, pos0);
    // every cached position's keys: position-free dims from the latent, kept rotary dims from their cache
    const kRaw = gm.rotary.rotDims > 0 ? t.kRawAll : this.kCache[li];
    if (L.nope) {
      await matmul(rt, cc, l.wuk!, t.kNope, { M: BT, N: l.kHeads * L.nope, K: L.rank, transB: true });
      await gatherColumns(rt, t.kNope, L.fromNope, kRaw, { rows: BT, xWidth: l.kHeads * L.nope, yWidth: kW });
    }
    if (L.rope) await gatherColumns(rt, this.krCache[li]!, L.fromRope, kRaw, { rows: BT, xWidth: l.kHeads * L.rope, yWidth: kW });
    if (l.bk) await accumulate(rt, kRaw, l.bk, BT * kW, kW);
    if (gm.rotary.rotDims > 0) {
      const rot = ropeShape(gm.rotary, { B: shape.batch, T: shape.cacheT, headDim: dh, heads: l.kHeads, keep: L.keepK });
      await rope(rt, kRaw, gm.rotary.cos, gm.rotary.sin, this.kCache[li], rot);
    }
    await matmul(rt, cc, l.wuv!, this.vCache[li], { M: BT, N: l.vHeads * dh, K: L.rank, transB: true }, undefined, l.bv);
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
    for (const x of this.owned) this.rt.release(x);
    this.owned.length = 0;
  }
}

export { NO_TARGET };
