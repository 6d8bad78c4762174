// A Model's weights on the GPU, uploaded once (persistent: re-uploaded by the runtime after device loss), plus the rotary
// tables and each layer's query→K-head and query→V-head maps.
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import type { Model } from '../model/types';
import { tensorsOf } from '../model/heads';
import { latentColumns, rotaryKeep } from '../model/latent';
import { modelRotaryTables, rotaryDims, rotaryStyle } from '../model/rotary';
import type { RotarySetup } from './rotary';
import type { LongWorkOptions } from '../progress';
import { throwIfAborted } from '../progress';

export interface GpuLayer {
  attnNormW: GpuTensor;
  attnNormB: GpuTensor | null;
  mlpNormW: GpuTensor;
  mlpNormB: GpuTensor | null;
  wq: GpuTensor;
  /** K and V projections; null in a latent layer (wdkv … wuv instead). */
  wk: GpuTensor | null;
  wv: GpuTensor | null;
  wo: GpuTensor;
  bq: GpuTensor | null;
  bk: GpuTensor | null;
  bv: GpuTensor | null;
  bo: GpuTensor | null;
  gate: GpuTensor | null;
  gateBias: GpuTensor | null;
  up: GpuTensor;
  upBias: GpuTensor | null;
  down: GpuTensor;
  downBias: GpuTensor | null;
  /** Latent KV (types.ts LatentKv): W_dkv, W_uk (null without position-free dims), W_kr (null without kept pairs), W_uv. */
  wdkv: GpuTensor | null;
  wuk: GpuTensor | null;
  wkr: GpuTensor | null;
  wuv: GpuTensor | null;
  /** [2·heads] u32: kHeadOf then vHeadOf */
  maps: GpuTensor;
  kHeads: number;
  vHeads: number;
  latent: GpuLatentLayout | null;
}

/** A latent layer's sizes and maps (src/model/latent.ts): key columns from each part, each part's columns, rotation masks. */
export interface GpuLatentLayout {
  rank: number;
  /** Position-free and kept rotary dims per K head. */
  nope: number;
  rope: number;
  fromNope: GpuTensor;
  fromRope: GpuTensor;
  nopeCols: GpuTensor;
  ropeCols: GpuTensor;
  keepQ: GpuTensor;
  keepK: GpuTensor;
}

/** A [rows, cols] matrix stored as consecutive blocks of whole rows, each within one storage binding. */
export interface RowBlocks {
  parts: { tensor: GpuTensor; rowStart: number; rowCount: number }[];
  rows: number;
  cols: number;
}

export class GpuModel {
  readonly rt: GpuRuntime;
  readonly model: Model;
  /** [vocab, dim], split by rows when larger than one storage binding. */
  readonly embed: RowBlocks;
  readonly positionEmbed: GpuTensor | null;
  /** [vocab, dim]; the same blocks as embed when tied. */
  readonly lmHead: RowBlocks;
  readonly lmHeadBias: GpuTensor | null;
  readonly finalNormW: GpuTensor;
  readonly finalNormB: GpuTensor | null;
  readonly layers: GpuLayer[];
  /** The rotary tables for every position of the context, the rotating dims per head and their pairing. */
  readonly rotary: RotarySetup;
  private readonly owned: GpuTensor[];

  private constructor(rt: GpuRuntime, model: Model, parts: Omit<GpuModel, 'rt' | 'model' | 'release' | 'owned' | 'weightBytes'> & { owned: GpuTensor[] }) {
    this.rt = rt;
    this.model = model;
    this.embed = parts.embed;
    this.positionEmbed = parts.positionEmbed;
    this.lmHead = parts.lmHead;
    this.lmHeadBias = parts.lmHeadBias;
    this.finalNormW = parts.finalNormW;
    this.finalNormB = parts.finalNormB;
    this.layers = parts.layers;
    this.rotary = parts.rotary;
    this.owned = parts.owned;
  }

  /**
   * Uploads every weight once; progress per tensor. The token embedding and the LM head (vocab × dim, the tensors that
   * outgrow a binding first) are split by rows across bindings when needed; any other tensor above one binding fails with
   * GpuLimitError naming it. `maxBindingBytes` lowers the split threshold (tests).
   */
  static async upload(rt: GpuRuntime, model: Model, opts: LongWorkOptions & { maxBindingBytes?: number } = {}): Promise<GpuModel> {
    const owned: GpuTensor[] = [];
    const total = tensorsOf(model).length + 2;
    let done = 0;
    const up = async (label: string, data: Float32Array | Uint32Array) => {
      throwIfAborted(opts.signal);
      const t = await rt.tensor(label, data, { persistent: true });
      owned.push(t);
      opts.onProgress?.({ stage: 'upload weights', done: ++done, total, detail: label });
      return t;
    };
    const opt = (label: string, data?: Float32Array) => (data ? up(label, data) : Promise.resolve(null));
    const c = model.config;
    const limit = Math.min(opts.maxBindingBytes ?? Infinity, rt.limits.maxStorageBufferBindingSize);
    const blocks = async (label: string, data: Float32Array, rows: number, cols: number): Promise<RowBlocks> => {
      const per = Math.max(1, Math.floor(limit / (cols * 4)));
      const parts = [];
      for (let r0 = 0; r0 < rows; r0 += per) {
        const n = Math.min(per, rows - r0);
        const name = per >= rows ? label : `${label}[${r0}:${r0 + n}]`;
        parts.push({ tensor: await up(name, data.subarray(r0 * cols, (r0 + n) * cols)), rowStart: r0, rowCount: n });
      }
      return { parts, rows, cols };
    };
    try {
      const embed = await blocks('embed', model.embed, c.vocab, c.dim);
      const lmHead = model.lmHead === model.embed ? embed : await blocks('lmHead', model.lmHead, c.vocab, c.dim);
      const layers: GpuLayer[] = [];
      for (const [i, l] of model.layers.entries()) {
        const p = `layers.${i}`;
        const L = l.latent;
        let latent: GpuLatentLayout | null = null;
        if (L) {
          const cols = latentColumns(c, L);
          const keep = rotaryKeep(c, l);
          const u32 = (name: string, data: Uint32Array) =>
            rt.tensor(`${p}.latent.${name}`, data.length ? data : new Uint32Array(1), { persistent: true }).then((t) => (owned.push(t), t));
          latent = {
            rank: L.rank,
            nope: cols.nope,
            rope: cols.rope,
            fromNope: await u32('fromNope', cols.fromNope),
            fromRope: await u32('fromRope', cols.fromRope),
            nopeCols: await u32('nopeCols', cols.nopeCols),
            ropeCols: await u32('ropeCols', cols.ropeCols),
            keepQ: await u32('keepQ', keep.q),
            keepK: await u32('keepK', keep.k),
          };
        }
        const some = (label: string, data?: Float32Array) => opt(label, data?.length ? data : undefined);
        layers.push({
          attnNormW: await up(`${p}.attnNorm.weight`, l.attnNorm.weight),
          attnNormB: await opt(`${p}.attnNorm.bias`, l.attnNorm.bias),
          mlpNormW: await up(`${p}.mlpNorm.weight`, l.mlpNorm.weight),
          mlpNormB: await opt(`${p}.mlpNorm.bias`, l.mlpNorm.bias),
          wq: await up(`${p}.attn.wq`, l.attn.wq),
          wk: await some(`${p}.attn.wk`, l.attn.wk),
          wv: await some(`${p}.attn.wv`, l.attn.wv),
          wo: await up(`${p}.attn.wo`, l.attn.wo),
          bq: await opt(`${p}.attn.bq`, l.attn.bq),
          bk: await opt(`${p}.attn.bk`, l.attn.bk),
          bv: await opt(`${p}.attn.bv`, l.attn.bv),
          bo: await opt(`${p}.attn.bo`, l.attn.bo),
          gate: await opt(`${p}.mlp.gate`, l.mlp.gate),
          gateBias: await opt(`${p}.mlp.gateBias`, l.mlp.gateBias),
          up: await up(`${p}.mlp.up`, l.mlp.up),
          upBias: await opt(`${p}.mlp.upBias`, l.mlp.upBias),
          down: await up(`${p}.mlp.down`, l.mlp.down),
          downBias: await opt(`${p}.mlp.downBias`, l.mlp.downBias),
          wdkv: await some(`${p}.latent.wdkv`, L?.wdkv),
          wuk: await some(`${p}.latent.wuk`, L?.wuk),
          wkr: await some(`${p}.latent.wkr`, L?.wkr),
          wuv: await some(`${p}.latent.wuv`, L?.wuv),
          maps: await up(`${p}.maps`, Uint32Array.from([...l.kv.kHeadOf, ...l.kv.vHeadOf])),
          kHeads: l.kv.kHeads,
          vHeads: l.kv.vHeads,
          latent,
        });
      }
      const tables = modelRotaryTables(c, c.contextLength);
      return new GpuModel(rt, model, {
        embed,
        positionEmbed: await opt('positionEmbed', model.positionEmbed),
        lmHead,
        lmHeadBias: await opt('lmHeadBias', model.lmHeadBias),
        finalNormW: await up('finalNorm.weight', model.finalNorm.weight),
        finalNormB: await opt('finalNorm.bias', model.finalNorm.bias),
        layers,
        rotary: { cos: await up('rotary cos', tables.cos), sin: await up('rotary sin', tables.sin), rotDims: rotaryDims(c), style: rotaryStyle(c) },
        owned,
      });
    } catch (e) {
      owned.forEach((t) => rt.release(t));
      throw e;
    }
  }

  get weightBytes(): number {
    return this.owned.reduce((s, t) => s + t.bytes, 0);
  }

  release() {
    this.owned.forEach((t) => this.rt.release(t));
    this.owned.length = 0;
  }
}
