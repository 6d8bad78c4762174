// Layer-local training of one attention layer on the GPU (docs/ALGORITHMS.md §4.3, our reconstruction): the layer's input X
// and the teacher's attention output O_T are given; the layer computes
//   Q = rope(X W_Qᵀ + b_Q), K = rope(X W_Kᵀ + b_K), V = X W_Vᵀ + b_V, A = attention through the layer's head maps,
//   O = A W_Oᵀ + b_O,
// and the loss L = ‖O − O_T‖² / ‖O_T‖² (relative squared error). The backward pass runs the same attention-gradient kernels
// as end-to-end training (dS, dQ, dK, dV; flash-style on GPUs, through stored probabilities on CPU fallbacks), rotary backward by −angle, then the weight gradients dW = dYᵀ X. Mode 'kv' trains
// W_K, W_V (and their biases): a fused model's merged heads; 'attention' trains W_Q and W_O too, so that queries and outputs
// can absorb what merging changed; 'frozen' only runs forward (the teacher). Adam updates the trainable tensors. The layer is
// always a complete layer of a model: what is evaluated is what was trained.
import type { Model } from '../model/types';
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { matmul } from '../gpu/kernels/matmul';
import { binary, unary } from '../gpu/kernels/elementwise';
import { reduceRows } from '../gpu/kernels/reduce';
import { rope } from '../gpu/kernels/transformer';
import { columnSum } from '../gpu/kernels/layerGrads';
import { adamStep, type AdamState } from '../gpu/kernels/training';
import { attentionBackward, attentionForward, attentionScratch, trainsFlash, type AttnGradShape } from '../eval/attention';
import { rotaryDims, rotaryTables, invFreqRounding } from '../model/rotary';

export type TrainMode = 'kv' | 'attention' | 'frozen';
/** A layer's attention weights and biases, by the names the model and the GPU copy both use. */
export const ATTENTION_WEIGHTS = ['wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'bo'] as const;
export type AttentionWeight = (typeof ATTENTION_WEIGHTS)[number];
const TRAINS: Record<TrainMode, readonly AttentionWeight[]> = { frozen: [], kv: ['wk', 'wv', 'bk', 'bv'], attention: ATTENTION_WEIGHTS };

export interface LayerTrainerSpec {
  model: Model;
  layer: number;
  /** Rows per call: B sequences of T positions (from position 0). */
  B: number;
  T: number;
  mode: TrainMode;
  /** Attention forward and backward flash-style (no [B, heads, T, T] buffers); default: on GPUs, head dims divisible by 4. */
  flash?: boolean;
}

interface Trainable {
  name: AttentionWeight;
  param: GpuTensor;
  grad: GpuTensor;
  adam: AdamState;
}

export class LayerTrainer {
  readonly rt: GpuRuntime;
  readonly spec: LayerTrainerSpec;
  readonly shape: AttnGradShape;
  readonly R: number;
  /** The layer's attention weights (and biases when the model has them), on the GPU. */
  readonly w: Partial<Record<AttentionWeight, GpuTensor>> = {};
  readonly trainables: Trainable[] = [];
  private readonly owned: GpuTensor[] = [];
  private t!: Record<string, GpuTensor>;
  private X: GpuTensor | null = null;
  private rotDims = 0;
  private style: 'interleaved' | 'half' = 'half';
  private teacherEnergy = 1;
  private readonly flash: boolean;

  private constructor(rt: GpuRuntime, spec: LayerTrainerSpec) {
    this.rt = rt;
    this.spec = spec;
    const c = spec.model.config;
    const l = spec.model.layers[spec.layer];
    this.R = spec.B * spec.T;
    this.flash = spec.flash ?? trainsFlash(rt, c.headDim);
    this.shape = {
      B: spec.B,
      T: spec.T,
      heads: c.heads,
      kHeads: l.kv.kHeads,
      vHeads: l.kv.vHeads,
      dh: c.headDim,
      window: c.attentionWindow[spec.layer] ?? 0,
      scale: c.attentionScale,
    };
  }

  private async tensor(label: string, data: Float32Array | Uint32Array | number): Promise<GpuTensor> {
    const t = await this.rt.tensor(`layer ${this.spec.layer} ${label}`, data);
    this.owned.push(t);
    return t;
  }

  static async create(rt: GpuRuntime, spec: LayerTrainerSpec): Promise<LayerTrainer> {
    const lt = new LayerTrainer(rt, spec);
    try {
      await lt.init();
    } catch (e) {
      lt.release();
      throw e;
    }
    return lt;
  }

  private async init() {
    const { model, layer, mode, T } = this.spec;
    const c = model.config;
    const l = model.layers[layer];
    const { R } = this;
    const { heads: H, kHeads: K, vHeads: V, dh } = this.shape;
    const D = c.dim;
    if (c.positional.kind === 'rotary') {
      this.rotDims = rotaryDims(c);
      this.style = c.positional.style;
    }
    const tables = rotaryTables(T, this.rotDims, c.positional.kind === 'rotary' ? c.positional.theta : 10000, invFreqRounding(c));
    for (const name of ATTENTION_WEIGHTS) {
      const host = l.attn[name];
      if (host) this.w[name] = await this.tensor(name, Float32Array.from(host));
    }
    for (const name of TRAINS[mode]) {
      const param = this.w[name];
      if (!param) continue;
      const n = param.length;
      this.trainables.push({
        name,
        param,
        grad: await this.tensor(`∇${name}`, n),
        adam: { m: await this.tensor(`adam m ${name}`, new Float32Array(n)), v: await this.tensor(`adam v ${name}`, new Float32Array(n)), t: 0 },
      });
    }
    const sizes: Record<string, number> = {
      qRaw: R * H * dh,
      q: R * H * dh,
      kRaw: R * K * dh,
      k: R * K * dh,
      v: R * V * dh,
      a: R * H * dh,
      o: R * D,
      negTarget: R * D,
      diff: R * D,
      sq: R * D,
      rowSums: R,
      dA: R * H * dh,
      dq: R * H * dh,
      dqRaw: R * H * dh,
      dk: R * K * dh,
      dkRaw: R * K * dh,
      dv: R * V * dh,
      ...attentionScratch(this.shape, this.flash),
    };
    this.t = {
      maps: await this.tensor('maps', Uint32Array.from([...l.kv.kHeadOf, ...l.kv.vHeadOf])),
      cos: await this.tensor('cos', tables.cos),
      sin: await this.tensor('sin', tables.sin),
    };
    for (const [name, n] of Object.entries(sizes)) this.t[name] = await this.tensor(name, n);
  }

  private rot(heads: number, inverse = false) {
    return {
      B: this.spec.B,
      T: this.spec.T,
      heads,
      headDim: this.shape.dh,
      rotDims: this.rotDims,
      pos0: 0,
      yT: this.spec.T,
      dstPos0: 0,
      style: this.style,
      inverse,
    } as const;
  }

  /** y = X Wᵀ (+ b), y [R, out]. */
  private async project(w: GpuTensor, b: GpuTensor | undefined, y: GpuTensor, out: number) {
    const D = this.spec.model.config.dim;
    await matmul(this.rt, this.X!, w, y, { M: this.R, N: out, K: D, transB: true }, undefined, b ?? null);
  }

  /** The layer's input X [R, D] for the next forward (fixed until the next call). */
  setInput(X: GpuTensor) {
    this.X = X;
  }

  /** Sets the target O_T [R, D] and its energy (the loss's denominator). */
  async setTarget(target: GpuTensor) {
    const { rt, R, t } = this;
    const D = this.spec.model.config.dim;
    await unary(rt, 'identity', target, t.negTarget, R * D, -1);
    await binary(rt, 'mul', target, target, t.sq, R * D, R * D);
    await reduceRows(rt, 'sum', t.sq, t.rowSums, R, D);
    this.teacherEnergy = Math.max(
      (await rt.read(t.rowSums, R)).reduce((a, b) => a + b, 0),
      1e-30,
    );
  }

  /** The forward pass: O into `output`. */
  async forward() {
    if (!this.X) throw new Error('layer trainer: no input; call setInput first');
    const { rt, R, t, w } = this;
    const { heads: H, kHeads: K, vHeads: V, dh } = this.shape;
    const D = this.spec.model.config.dim;
    await this.project(w.wq!, w.bq, t.qRaw, H * dh);
    await this.project(w.wk!, w.bk, t.kRaw, K * dh);
    await this.project(w.wv!, w.bv, t.v, V * dh);
    await rope(rt, t.qRaw, t.cos, t.sin, t.q, this.rot(H));
    await rope(rt, t.kRaw, t.cos, t.sin, t.k, this.rot(K));
    // The probabilities path keeps P for the backward; the flash path keeps nothing of T × T.
    await attentionForward(
      rt,
      { q: t.q, k: t.k, v: t.v, maps: t.maps },
      t.a,
      { ...this.shape, pos0: 0, cacheT: this.shape.T },
      this.flash ? { variant: 'flash' } : { probs: t.P },
    );
    await matmul(rt, t.a, w.wo!, t.o, { M: R, N: D, K: H * dh, transB: true }, undefined, w.bo ?? null);
  }

  get output(): GpuTensor {
    return this.t.o;
  }

  /** L = ‖O − O_T‖² / ‖O_T‖² after forward() (reads back R values). */
  async loss(): Promise<number> {
    const { rt, R, t } = this;
    const D = this.spec.model.config.dim;
    await binary(rt, 'add', t.o, t.negTarget, t.diff, R * D, R * D);
    await binary(rt, 'mul', t.diff, t.diff, t.sq, R * D, R * D);
    await reduceRows(rt, 'sum', t.sq, t.rowSums, R, D);
    return (await rt.read(t.rowSums, R)).reduce((a, b) => a + b, 0) / this.teacherEnergy;
  }

  /** Gradients of the loss after forward() and loss(), into the trainables' gradient tensors (overwritten). */
  async backward() {
    const { rt, R, t, w } = this;
    const { heads: H, kHeads: K, vHeads: V, dh } = this.shape;
    const D = this.spec.model.config.dim;
    const grad = new Map(this.trainables.map((x) => [x.name, x.grad]));
    /** y = X Wᵀ + b: dW = dyᵀ X, db = Σ_rows dy. */
    const weightGrads = async (dy: GpuTensor, x: GpuTensor, wName: AttentionWeight, bName: AttentionWeight, out: number, inDim: number) => {
      const dW = grad.get(wName);
      const db = grad.get(bName);
      if (dW) await matmul(rt, dy, x, dW, { M: out, N: inDim, K: R, transA: true });
      if (db) {
        rt.zero(db);
        await columnSum(rt, dy, db, R, out);
      }
    };
    // G = 2 (O − O_T) / ‖O_T‖²; O = A W_Oᵀ + b_O: dW_O = Gᵀ A, dA = G W_O.
    await unary(rt, 'identity', t.diff, t.sq, R * D, 2 / this.teacherEnergy);
    await weightGrads(t.sq, t.a, 'wo', 'bo', D, H * dh);
    await matmul(rt, t.sq, w.wo!, t.dA, { M: R, N: H * dh, K: D });
    const needDq = grad.has('wq') || grad.has('bq');
    const io = { q: t.q, k: t.k, v: t.v, a: t.a, dA: t.dA, maps: t.maps };
    await attentionBackward(rt, io, { dq: needDq || this.flash ? t.dq : null, dk: t.dk, dv: t.dv }, t, this.shape, this.flash, true);
    await rope(rt, t.dk, t.cos, t.sin, t.dkRaw, this.rot(K, true));
    await weightGrads(t.dkRaw, this.X!, 'wk', 'bk', K * dh, D);
    await weightGrads(t.dv, this.X!, 'wv', 'bv', V * dh, D);
    if (needDq) {
      await rope(rt, t.dq, t.cos, t.sin, t.dqRaw, this.rot(H, true));
      await weightGrads(t.dqRaw, this.X!, 'wq', 'bq', H * dh, D);
    }
  }

  /** One Adam step on the trainable tensors. */
  async step(lr: number) {
    for (const x of this.trainables) await adamStep(this.rt, x.param, x.grad, x.adam, { lr });
  }

  /** A trainable weight's current values, or its gradient (tests). */
  async read(name: AttentionWeight, what: 'value' | 'gradient' = 'value'): Promise<Float32Array> {
    const x = what === 'value' ? this.w[name] : this.trainables.find((tr) => tr.name === name)?.grad;
    if (!x) throw new Error(`layer ${this.spec.layer}: no ${what} for ${name}`);
    return this.rt.read(x);
  }

  release() {
    for (const t of this.owned) this.rt.release(t);
    this.owned.length = 0;
  }
}
