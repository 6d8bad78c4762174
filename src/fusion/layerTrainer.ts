// Layer-local training of one attention layer on the GPU (ALGORITHMS.md §5.4 (L2), our reconstruction): the layer's input X
// (teacher-forced, from the original model) and the teacher's attention output O_T are given; the student computes
//   K_src = X W_Kᵀ + b_K, V_src likewise (one row block per source head),  K̃ = Ω_K · K_src, Ṽ = Ω_V · V_src (head mixing),
//   rotary on Q and K̃, attention through the student's head maps, O_S = A W_Oᵀ + b_O,
// and the loss L = ‖O_S − O_T‖² / ‖O_T‖² (relative squared error). Backward: dA = G W_O, attention backward, rotary backward
// (rotation by −angle), then either the operators' gradient dΩ[o, i] = ⟨dK̃_o, K_src,i⟩ (mode 'operators', masked to each
// group and pulled together by the fusion loss's augmented-Lagrangian term) or the source weights' gradient dW = dK̃ᵀ X
// (mode 'weights': recovery of merged heads). W_Q, W_O and everything else stay frozen. Adam updates the trainable tensors.
import type { Model } from '../model/types';
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { matmul } from '../gpu/kernels/matmul';
import { accumulate, binary, unary } from '../gpu/kernels/elementwise';
import { reduceRows } from '../gpu/kernels/reduce';
import { rope } from '../gpu/kernels/transformer';
import {
  adamStep, attentionContext, attentionKeysGrad, attentionProbs, attentionScoresGrad, attentionValuesGrad, fusionPull, headMix,
  headMixGrad, type AdamState, type AttnGradShape,
} from '../gpu/kernels/training';
import { rotaryDims, rotaryTables, invFreqRounding } from '../eval/rotary';

export type TrainMode = 'operators' | 'weights' | 'frozen';

export interface LayerTrainerSpec {
  model: Model;
  layer: number;
  /** Rows per call: B sequences of T positions (from position 0). */
  B: number;
  T: number;
  mode: TrainMode;
  /** operators mode: the group of every source K head and V head (heads in one group are pulled together). */
  kGroupOf?: number[];
  vGroupOf?: number[];
}

interface Kind {
  nSrc: number;
  nOut: number;
  w: GpuTensor;
  b: GpuTensor | null;
  omega: GpuTensor | null;
  mask: GpuTensor | null;
  groupOf: GpuTensor | null;
  groups: number[];
  src: GpuTensor;
  mixed: GpuTensor;
  grad: GpuTensor;
  gradTheta: GpuTensor | null;
  adam: AdamState | null;
}

export class LayerTrainer {
  readonly rt: GpuRuntime;
  readonly spec: LayerTrainerSpec;
  readonly shape: AttnGradShape;
  readonly R: number;
  private readonly D: number;
  private readonly dh: number;
  private readonly owned: GpuTensor[] = [];
  private t!: Record<string, GpuTensor>;
  k!: Kind;
  v!: Kind;
  private rotDims = 0;
  private style: 'interleaved' | 'half' = 'half';
  private teacherEnergy = 1;

  private constructor(rt: GpuRuntime, spec: LayerTrainerSpec) {
    this.rt = rt;
    this.spec = spec;
    const c = spec.model.config;
    const l = spec.model.layers[spec.layer];
    this.D = c.dim;
    this.dh = c.headDim;
    this.R = spec.B * spec.T;
    this.shape = {
      B: spec.B, T: spec.T, heads: c.heads, kHeads: l.kv.kHeads, vHeads: l.kv.vHeads, dh: c.headDim,
      window: c.attentionWindow[spec.layer] ?? 0, scale: c.attentionScale,
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
    const { model, layer, mode } = this.spec;
    const c = model.config;
    const l = model.layers[layer];
    const { R, D, dh } = this;
    const H = c.heads;
    const { B, T } = this.spec;
    if (c.positional.kind === 'rotary') {
      this.rotDims = rotaryDims(c);
      this.style = c.positional.style;
    }
    const tables = rotaryTables(T, this.rotDims, c.positional.kind === 'rotary' ? c.positional.theta : 10000, invFreqRounding(c));
    const kind = async (name: 'k' | 'v', w: Float32Array, b: Float32Array | undefined, n: number, groupOf?: number[]): Promise<Kind> => {
      const operators = mode === 'operators';
      let omega: GpuTensor | null = null;
      let mask: GpuTensor | null = null;
      let groupT: GpuTensor | null = null;
      const groups = groupOf ?? Array.from({ length: n }, (_, i) => i);
      if (operators) {
        const eye = new Float32Array(n * n);
        const m = new Float32Array(n * n);
        for (let o = 0; o < n; o++) {
          eye[o * n + o] = 1;
          for (let i = 0; i < n; i++) m[o * n + i] = groups[o] === groups[i] ? 1 : 0;
        }
        omega = await this.tensor(`Ω_${name}`, eye);
        mask = await this.tensor(`Ω_${name} mask`, m);
        groupT = await this.tensor(`Ω_${name} groups`, Uint32Array.from(groups));
      }
      const wT = await this.tensor(`W_${name}`, w);
      const theta = operators ? omega! : mode === 'weights' ? wT : null;
      return {
        nSrc: n,
        nOut: n,
        w: wT,
        b: b ? await this.tensor(`b_${name}`, b) : null,
        omega,
        mask,
        groupOf: groupT,
        groups,
        src: await this.tensor(`${name} source`, R * n * dh),
        mixed: await this.tensor(`${name} mixed`, R * n * dh),
        grad: await this.tensor(`d${name}`, R * n * dh),
        gradTheta: theta ? await this.tensor(`grad ${name}`, theta.length) : null,
        adam: theta ? { m: await this.tensor(`adam m ${name}`, new Float32Array(theta.length)), v: await this.tensor(`adam v ${name}`, new Float32Array(theta.length)), t: 0 } : null,
      };
    };
    this.k = await kind('k', l.attn.wk, l.attn.bk, l.kv.kHeads, this.spec.kGroupOf);
    this.v = await kind('v', l.attn.wv, l.attn.bv, l.kv.vHeads, this.spec.vGroupOf);
    const negSin = Float32Array.from(tables.sin, (s) => -s);
    this.t = {
      wq: await this.tensor('W_q', l.attn.wq),
      wo: await this.tensor('W_o', l.attn.wo),
      maps: await this.tensor('maps', Uint32Array.from([...l.kv.kHeadOf, ...l.kv.vHeadOf])),
      cos: await this.tensor('cos', tables.cos),
      sin: await this.tensor('sin', tables.sin),
      negSin: await this.tensor('−sin', negSin),
      qRaw: await this.tensor('q raw', R * H * dh),
      q: await this.tensor('q', R * H * dh),
      kRot: await this.tensor('k rotated', R * this.k.nOut * dh),
      P: await this.tensor('P', B * H * T * T),
      dS: await this.tensor('dS', B * H * T * T),
      a: await this.tensor('a', R * H * dh),
      dA: await this.tensor('dA', R * H * dh),
      o: await this.tensor('o', R * D),
      negTarget: await this.tensor('−target', R * D),
      diff: await this.tensor('diff', R * D),
      sq: await this.tensor('diff²', R * D),
      rowSums: await this.tensor('row sums', R),
      dKrot: await this.tensor('dk rotated', R * this.k.nOut * dh),
    };
    if (l.attn.bq) this.t.bq = await this.tensor('b_q', l.attn.bq);
    if (l.attn.bo) this.t.bo = await this.tensor('b_o', l.attn.bo);
  }

  private ropeShape(heads: number) {
    return { B: this.spec.B, T: this.spec.T, heads, headDim: this.dh, rotDims: this.rotDims, pos0: 0, yT: this.spec.T, dstPos0: 0, style: this.style } as const;
  }

  /** Computes Q for a new batch X [R, D] (fixed while training) and the source K/V rows. */
  async setInput(X: GpuTensor) {
    const { rt, R, D, dh, t } = this;
    const H = this.spec.model.config.heads;
    await matmul(rt, X, t.wq, t.qRaw, { M: R, N: H * dh, K: D, transB: true });
    if (t.bq) await accumulate(rt, t.qRaw, t.bq, R * H * dh, H * dh);
    await rope(rt, t.qRaw, t.cos, t.sin, t.q, this.ropeShape(H));
    this.t.X = X;
    if (this.spec.mode !== 'weights') await this.sources();
  }

  private async sources() {
    const { rt, R, D, dh } = this;
    for (const k of [this.k, this.v]) {
      await matmul(rt, this.t.X, k.w, k.src, { M: R, N: k.nSrc * dh, K: D, transB: true });
      if (k.b) await accumulate(rt, k.src, k.b, R * k.nSrc * dh, k.nSrc * dh);
    }
  }

  /** Sets the target O_T [R, D] and its energy (the loss's denominator). */
  async setTarget(target: GpuTensor) {
    const { rt, R, D, t } = this;
    await unary(rt, 'identity', target, t.negTarget, R * D, -1);
    await binary(rt, 'mul', target, target, t.sq, R * D, R * D);
    await reduceRows(rt, 'sum', t.sq, t.rowSums, R, this.D);
    this.teacherEnergy = Math.max((await rt.read(t.rowSums, R)).reduce((a, b) => a + b, 0), 1e-30);
  }

  /** The forward pass: O_S into `this.output`. */
  async forward() {
    const { rt, R, D, dh, t } = this;
    const H = this.spec.model.config.heads;
    if (this.spec.mode === 'weights') await this.sources();
    for (const k of [this.k, this.v]) {
      if (k.omega) await headMix(rt, k.src, k.omega, k.mixed, { R, nIn: k.nSrc, nOut: k.nOut, dh });
    }
    const kIn = this.k.omega ? this.k.mixed : this.k.src;
    const vIn = this.v.omega ? this.v.mixed : this.v.src;
    await rope(rt, kIn, t.cos, t.sin, t.kRot, this.ropeShape(this.k.nOut));
    await attentionProbs(rt, t.q, t.kRot, t.maps, t.P, this.shape);
    await attentionContext(rt, t.P, vIn, t.maps, t.a, this.shape);
    await matmul(rt, t.a, t.wo, t.o, { M: R, N: D, K: H * dh, transB: true });
    if (t.bo) await accumulate(rt, t.o, t.bo, R * D, D);
  }

  get output(): GpuTensor {
    return this.t.o;
  }

  /** L = ‖O_S − O_T‖² / ‖O_T‖² after forward() (reads back R values). */
  async loss(): Promise<number> {
    const { rt, R, D, t } = this;
    await binary(rt, 'add', t.o, t.negTarget, t.diff, R * D, R * D);
    await binary(rt, 'mul', t.diff, t.diff, t.sq, R * D, R * D);
    await reduceRows(rt, 'sum', t.sq, t.rowSums, R, D);
    return (await rt.read(t.rowSums, R)).reduce((a, b) => a + b, 0) / this.teacherEnergy;
  }

  /**
   * Gradients of the loss after forward() and loss(): into the trainable tensors' gradient buffers (operators: masked, plus
   * `pull` times the fusion loss's gradient per kind).
   */
  async backward(pull: { k: number; v: number } = { k: 0, v: 0 }) {
    const { rt, R, D, dh, t } = this;
    const H = this.spec.model.config.heads;
    // G = 2 (O_S − O_T) / ‖O_T‖², then dA = G W_O (W_O stored [D, H·dh]).
    await unary(rt, 'identity', t.diff, t.sq, R * D, 2 / this.teacherEnergy);
    await matmul(rt, t.sq, t.wo, t.dA, { M: R, N: H * dh, K: D });
    const vIn = this.v.omega ? this.v.mixed : this.v.src;
    await attentionScoresGrad(rt, t.P, t.dA, vIn, t.maps, t.dS, this.shape);
    await attentionKeysGrad(rt, t.dS, t.q, t.maps, t.dKrot, this.shape);
    await attentionValuesGrad(rt, t.P, t.dA, t.maps, this.v.grad, this.shape);
    // Rotary backward: the transpose of a rotation by θ is the rotation by −θ.
    await rope(rt, t.dKrot, t.cos, t.negSin, this.k.grad, this.ropeShape(this.k.nOut));
    for (const [k, coef] of [[this.k, pull.k], [this.v, pull.v]] as const) {
      if (!k.gradTheta) continue;
      if (k.omega) {
        await headMixGrad(rt, k.grad, k.src, k.gradTheta, { R, nIn: k.nSrc, nOut: k.nOut, dh });
        await fusionPull(rt, k.omega, k.gradTheta, k.mask!, k.groupOf!, { nOut: k.nOut, nIn: k.nSrc, coef });
      } else {
        // dW = dK̃ᵀ X: [n·dh, D].
        await matmul(rt, k.grad, t.X, k.gradTheta, { M: k.nOut * dh, N: D, K: R, transA: true });
      }
    }
  }

  /** One Adam step on the trainable tensors. */
  async step(lr: number) {
    for (const k of [this.k, this.v]) {
      const theta = k.omega ?? (this.spec.mode === 'weights' ? k.w : null);
      if (theta && k.gradTheta && k.adam) await adamStep(this.rt, theta, k.gradTheta, k.adam, { lr });
    }
  }

  /** The current operators (operators mode) as host matrices [n·n]. */
  async operators(): Promise<{ k: Float32Array; v: Float32Array }> {
    if (!this.k.omega || !this.v.omega) throw new Error('this trainer has no operators');
    return { k: await this.rt.read(this.k.omega), v: await this.rt.read(this.v.omega) };
  }

  /** The current source weights (weights mode). */
  async weights(): Promise<{ k: Float32Array; v: Float32Array }> {
    return { k: await this.rt.read(this.k.w), v: await this.rt.read(this.v.w) };
  }

  /** Reads a trainable gradient (tests). */
  async gradient(which: 'k' | 'v'): Promise<Float32Array> {
    const g = this[which].gradTheta;
    if (!g) throw new Error('nothing is trained');
    return this.rt.read(g);
  }

  /** Overwrites the operators (tests, resets). */
  setOperators(which: 'k' | 'v', values: Float32Array) {
    const o = this[which].omega;
    if (!o) throw new Error('this trainer has no operators');
    this.rt.upload(o, values);
  }

  release() {
    for (const t of this.owned) this.rt.release(t);
    this.owned.length = 0;
  }
}
