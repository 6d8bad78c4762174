// Layer-local training of one attention layer on the GPU (docs/ALGORITHMS.md §4.3, our reconstruction): the layer's input X
// and the teacher's attention output O_T are given; the layer computes
//   Q = rope(X W_Qᵀ + b_Q), K = rope(X W_Kᵀ + b_K), V = X W_Vᵀ + b_V, A = attention through the layer's head maps,
//   O = A W_Oᵀ + b_O,
// and the loss L = ‖O − O_T‖² / ‖O_T‖² (relative squared error). Forward and backward are the model's attention block
// (src/eval/attentionBlock.ts), as in the forward pass and end-to-end training: the same projections, rotary step, attention
// core (flash-style on GPUs, through stored probabilities on CPU fallbacks), W_O, inverse rotation and weight gradients
// dW = dYᵀ X; the rotary tables are one upload per model, shared by every layer's teacher and student. Mode 'kv' trains
// W_K, W_V (and their biases): a fused model's merged heads; 'attention' trains W_Q and W_O too, so that queries and outputs
// can absorb what merging changed; 'frozen' only runs forward (the teacher). Adam updates the trainable tensors. The layer is
// always a complete layer of a model: what is evaluated is what was trained.
// What is the layer trainer's own: the GPU copies of one layer's weights with their gradients and Adam state, the loss, the
// probabilities kept from forward to backward on the CPU-fallback path, and V as one product over all rows (the forward pass
// writes V into its KV cache one sequence at a time, a product of another shape).
import type { Model } from '../model/types';
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { binary, unary } from '../gpu/kernels/elementwise';
import { reduceRows } from '../gpu/kernels/reduce';
import { adamStep, type AdamState } from '../gpu/kernels/training';
import { attentionForward, attentionScratch, trainsFlash, type AttnGradShape } from '../eval/attention';
import { attentionBlockBackward, attentionShape, linear, rotatedProjection } from '../eval/attentionBlock';
import { acquireRotary, type RotarySetup } from '../eval/rotary';

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
  /** The model's rotary tables, shared with the other layer trainers of the same model (acquireRotary). */
  private rotary: (RotarySetup & { release(): void }) | null = null;
  private teacherEnergy = 1;
  private readonly flash: boolean;

  private constructor(rt: GpuRuntime, spec: LayerTrainerSpec) {
    this.rt = rt;
    this.spec = spec;
    const c = spec.model.config;
    const l = spec.model.layers[spec.layer];
    this.R = spec.B * spec.T;
    this.flash = spec.flash ?? trainsFlash(rt, c.headDim);
    this.shape = attentionShape(c, spec.layer, l.kv, spec.B, spec.T);
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
    this.rotary = await acquireRotary(this.rt, c, T);
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
      datt: R * H * dh,
      dq: R * H * dh,
      dqRaw: R * H * dh,
      dk: R * K * dh,
      dkRaw: R * K * dh,
      dv: R * V * dh,
      ...attentionScratch(this.shape, this.flash),
    };
    this.t = { maps: await this.tensor('maps', Uint32Array.from([...l.kv.kHeadOf, ...l.kv.vHeadOf])) };
    for (const [name, n] of Object.entries(sizes)) this.t[name] = await this.tensor(name, n);
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
    const { rt, R, t, w, X } = this;
    const { B, T, heads: H, kHeads: K, vHeads: V, dh } = this.shape;
    const D = this.spec.model.config.dim;
    const rot = { B, T, headDim: dh, inDim: D };
    await rotatedProjection(rt, this.rotary!, X, w.wq!, w.bq ?? null, t.qRaw, t.q, { ...rot, heads: H });
    await rotatedProjection(rt, this.rotary!, X, w.wk!, w.bk ?? null, t.kRaw, t.k, { ...rot, heads: K });
    await linear(rt, X, w.wv!, w.bv ?? null, t.v, R, D, V * dh);
    // The probabilities path keeps P for the backward; the flash path keeps nothing of T × T.
    await attentionForward(
      rt,
      { q: t.q, k: t.k, v: t.v, maps: t.maps },
      t.a,
      { ...this.shape, pos0: 0, cacheT: this.shape.T },
      this.flash ? { variant: 'flash' } : { probs: t.P },
    );
    await linear(rt, t.a, w.wo!, w.bo ?? null, t.o, R, H * dh, D);
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
    const D = this.spec.model.config.dim;
    const grad = new Map(this.trainables.map((x) => [x.name, x.grad]));
    const g = (name: AttentionWeight) => grad.get(name) ?? null;
    // G = 2 (O − O_T) / ‖O_T‖², the gradient of O = A W_Oᵀ + b_O; the block's backward from there.
    await unary(rt, 'identity', t.diff, t.sq, R * D, 2 / this.teacherEnergy);
    await attentionBlockBackward(rt, {
      shape: this.shape,
      inDim: D,
      rotary: this.rotary!,
      weights: { wq: w.wq!, wk: w.wk!, wv: w.wv!, wo: w.wo! },
      io: { x: this.X!, q: t.q, k: t.k, v: t.v, att: t.a, maps: t.maps },
      dOut: t.sq,
      grads: { wq: g('wq'), wk: g('wk'), wv: g('wv'), wo: g('wo'), bq: g('bq'), bk: g('bk'), bv: g('bv'), bo: g('bo') },
      scratch: t,
      dx: null,
      grad: 'overwrite',
      flash: this.flash,
      probsKept: true,
      needDq: grad.has('wq') || grad.has('bq'),
    });
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
    this.rotary?.release();
    this.rotary = null;
  }
}
