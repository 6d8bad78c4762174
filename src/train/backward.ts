// The backward pass of the causal LM: src/eval/forward.ts read in reverse, over the activations a training forward kept
// (ForwardPass with keep). Starts from ∂loss/∂logits, which the loss kernel leaves in the forward's logits buffer, and
// accumulates (+=) into the gradient tensors of ModelGrads; weights whose gradient is null are not differentiated, and the
// pass stops below the lowest layer that still has something to train. Attention probabilities are recomputed per layer,
// not kept: on GPUs by the flash backward (no T × T buffer), on CPU fallbacks as a [B, heads, T, T] scratch. No float atomics anywhere: every reduction is a thread's own loop, so gradients are deterministic.
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import type { ForwardPass } from '../eval/forward';
import { gatherColumns } from '../gpu/kernels/transformer';
import { attentionScratch, trainsFlash } from '../eval/attention';
import { attentionBlockBackward, attentionShape, linearBackward } from '../eval/attentionBlock';
import { columnSum, embeddingGrad, geluGrad, normBackward, normGainGrad, positionGrad, swigluGrad, tokenRows } from '../gpu/kernels/layerGrads';
import type { LayerGrads, ModelGrads } from './params';
import type { ModelConfig } from '../model/types';
import type { LayerKvShape } from '../eval/forward';

export class Backward {
  private readonly rt: GpuRuntime;
  private readonly t: Record<string, GpuTensor> = {};
  private readonly owned: GpuTensor[] = [];

  private constructor(
    readonly fp: ForwardPass,
    readonly grads: ModelGrads,
    readonly flash: boolean,
  ) {
    this.rt = fp.gm.rt;
  }

  /** Whether the attention backward runs flash-style (GPUs, head dims divisible by 4) or through the probabilities. */
  static flashFor(rt: GpuRuntime, c: ModelConfig): boolean {
    return trainsFlash(rt, c.headDim);
  }

  /** The scratch tensors for B sequences of T positions, by name and number of values. */
  static sizes(c: ModelConfig, kvHeads: LayerKvShape[], B: number, T: number, flash: boolean): Record<string, number> {
    const R = B * T;
    const dh = c.headDim;
    const maxK = Math.max(...kvHeads.map((l) => l.kHeads));
    const maxV = Math.max(...kvHeads.map((l) => l.vHeads));
    const latents = kvHeads.filter((l) => l.latent);
    const most = (f: (l: LayerKvShape) => number) => Math.max(1, ...latents.map(f));
    // a latent layer's gradients of its latent [R, rank], key part from it and kept rotary key dims
    const latent: Record<string, number> = latents.length
      ? { dc: R * most((l) => l.latent!.rank), dkn: R * most((l) => l.kHeads * l.latent!.nope), dkr: R * most((l) => l.kHeads * l.latent!.rope) }
      : {};
    const attention = attentionScratch({ B, T, heads: c.heads, kHeads: maxK, vHeads: maxV, dh, window: 0, scale: 1 }, flash);
    return {
      dx: R * c.dim,
      dh1: R * c.dim,
      dh2: R * c.dim,
      datt: R * c.heads * dh,
      dq: R * c.heads * dh,
      dqRaw: R * c.heads * dh,
      dk: R * maxK * dh,
      dkRaw: R * maxK * dh,
      dv: R * maxV * dh,
      ...attention,
      da: R * c.ffnDim,
      dg: R * c.ffnDim,
      du: R * c.ffnDim,
      stats: 2 * R,
      csr: 3 * R + 1,
      ...latent,
    };
  }

  /** Scratch for one forward pass's shape (B sequences of up to `chunk` positions); `flash` defaults to the adapter's choice. */
  static async create(fp: ForwardPass, grads: ModelGrads, flash = Backward.flashFor(fp.gm.rt, fp.gm.model.config)): Promise<Backward> {
    if (!fp.shape.keep) throw new Error('backward needs a training forward (ForwardPass created with keep)');
    const bw = new Backward(fp, grads, flash);
    const sizes = Backward.sizes(fp.gm.model.config, fp.gm.layers, fp.shape.batch, fp.shape.chunk, flash);
    try {
      for (const [name, n] of Object.entries(sizes)) bw.t[name] = await bw.tensor(`backward ${name}`, name === 'csr' ? new Uint32Array(n) : n);
    } catch (e) {
      bw.release();
      throw e;
    }
    return bw;
  }

  private async tensor(label: string, n: number | Uint32Array) {
    const x = await this.rt.tensor(label, n);
    this.owned.push(x);
    return x;
  }

  get bytes(): number {
    return this.owned.reduce((s, t) => s + t.bytes, 0);
  }

  /** y = x·Wᵀ (+ b), y [R, outDim]: dW += dyᵀ·x, db += Σ_rows dy, and dx = dy·W (accumulate: dx += dy·W; null: not needed). */
  private async linear(
    dy: GpuTensor,
    x: GpuTensor,
    w: GpuTensor,
    dW: GpuTensor | null,
    db: GpuTensor | null,
    dx: GpuTensor | null,
    inDim: number,
    outDim: number,
    accumulate = false,
  ) {
    await linearBackward(this.rt, this.fp.rows, dy, x, w, { dW, db, dx }, inDim, outDim, 'accumulate', accumulate);
  }

  /** y = norm(x)·w (+ b): dx (+)= …, dw += Σ dy ⊙ x̂, db += Σ dy. */
  private async norm(x: GpuTensor, w: GpuTensor, dW: GpuTensor | null, dB: GpuTensor | null, dy: GpuTensor, dx: GpuTensor, accumulate: boolean) {
    const c = this.fp.gm.model.config;
    const s = { rows: this.fp.rows, dim: c.dim, eps: c.normEps };
    await normBackward(this.rt, c.norm, x, w, dy, dx, this.t.stats, { ...s, accumulate });
    if (dW) await normGainGrad(this.rt, x, dy, this.t.stats, dW, s);
    if (dB) await columnSum(this.rt, dy, dB, s.rows, s.dim);
  }

  /** After fp.run (same call shape) and the loss kernel: gradients of every trainable weight, accumulated. */
  async run(): Promise<void> {
    const { rt, fp, grads: g, t: d } = this;
    const gm = fp.gm;
    const c = gm.model.config;
    const R = fp.rows;
    const T = fp.T;
    const B = R / T;
    const D = c.dim;
    const dh = c.headDim;
    const F = c.ffnDim;
    const V = c.vocab;
    const L = gm.layers.length;
    const trains = (lg: LayerGrads) => Object.values(lg).some(Boolean);
    const embeddingTrains = Boolean(g.embed || g.positionEmbed);
    /** Layers at or below l still need the residual's gradient. */
    const needBelow = (l: number) => embeddingTrains || g.layers.slice(0, l).some(trains);

    // logits = h · lmHeadᵀ (+ b), h = norm(x): ∂/∂logits is in fp.logits
    const dLogits = fp.logits;
    if (g.lmHeadBias) await columnSum(rt, dLogits, g.lmHeadBias, R, V);
    await this.linear(dLogits, fp.final.h, gm.lmHead.parts[0].tensor, g.lmHead, null, d.dh1, D, V);
    await this.norm(fp.final.x!, gm.finalNormW, g.finalNormW, g.finalNormB, d.dh1, d.dx, false);
    for (let li = L - 1; li >= 0; li--) {
      const s = fp.acts[li];
      const l = gm.layers[li];
      const lg = g.layers[li];
      // x += m, m = a · W_downᵀ (+ b): the residual's gradient d.dx is m's
      await this.linear(d.dx, s.a, l.down, lg.down, lg.downBias, d.da, F, D);
      // a = silu(g) ⊙ u, or gelu(u); g = h2 · W_gateᵀ, u = h2 · W_upᵀ
      if (s.g) {
        await swigluGrad(rt, s.g, s.u, d.da, d.dg, d.du, R * F);
        await this.linear(d.dg, s.h2, l.gate!, lg.gate, lg.gateBias, d.dh2, D, F);
        await this.linear(d.du, s.h2, l.up, lg.up, lg.upBias, d.dh2, D, F, true);
      } else {
        await geluGrad(rt, c.mlp as 'gelu_tanh' | 'gelu_erf', s.u, d.da, d.du, R * F);
        await this.linear(d.du, s.h2, l.up, lg.up, lg.upBias, d.dh2, D, F);
      }
      // h2 = norm2(x1), x1 = x0 + o (sequential); with a parallel residual h2 = norm2(x0), added below
      if (!c.parallelResidual) await this.norm(s.x1!, l.mlpNormW, lg.mlpNormW, lg.mlpNormB, d.dh2, d.dx, true);
      // the attention block (src/eval/attentionBlock.ts): o = att · W_Oᵀ (+ b), o's gradient is the residual's; att through
      // the head maps, P recomputed from the kept q and K cache; q = rope(qRaw), k = rope(kRaw); qRaw, kRaw, v = h1 · W_{q,k,v}ᵀ (+ b)
      const L = l.latent;
      const below = needBelow(li);
      const dh1 = below || lg.attnNormW || lg.attnNormB ? d.dh1 : null;
      // a latent layer: kRaw = columns of kn = c·W_ukᵀ and kr = h1·W_krᵀ (+ bk); v = c·W_uvᵀ (+ bv); c = h1·W_dkvᵀ
      const latentKv =
        L &&
        (async (dkRaw: GpuTensor, dv: GpuTensor) => {
          const kW = l.kHeads * dh;
          const cc = fp.cCache[li]!;
          if (lg.bk) await columnSum(rt, dkRaw, lg.bk, R, kW);
          if (L.nope) {
            await gatherColumns(rt, dkRaw, L.nopeCols, d.dkn, { rows: R, xWidth: kW, yWidth: l.kHeads * L.nope });
            await this.linear(d.dkn, cc, l.wuk!, lg.wuk, null, d.dc, L.rank, l.kHeads * L.nope);
          }
          await this.linear(dv, cc, l.wuv!, lg.wuv, lg.bv, d.dc, L.rank, l.vHeads * dh, L.nope > 0);
          if (L.rope) {
            await gatherColumns(rt, dkRaw, L.ropeCols, d.dkr, { rows: R, xWidth: kW, yWidth: l.kHeads * L.rope });
            await this.linear(d.dkr, s.h1, l.wkr!, lg.wkr, null, dh1, D, l.kHeads * L.rope, true);
          }
          await this.linear(d.dc, s.h1, l.wdkv!, lg.wdkv, null, dh1, D, L.rank, true);
        });
      await attentionBlockBackward(rt, {
        shape: attentionShape(c, li, l, B, T),
        inDim: D,
        rotary: gm.rotary,
        weights: l,
        io: { x: s.h1, q: s.q, k: fp.kCache[li], v: fp.vCache[li], att: s.att, maps: l.maps },
        dOut: d.dx,
        grads: lg,
        scratch: d,
        dx: dh1,
        grad: 'accumulate',
        flash: this.flash,
        keep: { q: L?.keepQ, k: L?.keepK },
        kv: latentKv ?? undefined,
      });
      if (!below && !lg.attnNormW && !lg.attnNormB && !(c.parallelResidual && (lg.mlpNormW || lg.mlpNormB))) break;
      // x_out = x0 + o + m with h2 = norm2(x0) (parallel); h1 = norm1(x0)
      if (c.parallelResidual) await this.norm(s.x0!, l.mlpNormW, lg.mlpNormW, lg.mlpNormB, d.dh2, d.dx, true);
      if (dh1) await this.norm(s.x0!, l.attnNormW, lg.attnNormW, lg.attnNormB, d.dh1, d.dx, true);
    }
    // x = E[ids] (+ P[position])
    if (g.embed) {
      const { csr, distinct } = tokenRows(fp.ids);
      rt.upload(d.csr, csr);
      await embeddingGrad(rt, d.dx, d.csr, g.embed, { rows: R, dim: D, distinct });
    }
    if (g.positionEmbed) await positionGrad(rt, d.dx, g.positionEmbed, { rows: R, dim: D, T, pos0: 0 });
  }

  release() {
    for (const x of this.owned) this.rt.release(x);
    this.owned.length = 0;
  }
}
