// Progressive fusion (the DHA paper's linear heads fusion with learned operators; docs/ALGORITHMS.md §3.3 and
// docs/FUSION.md say which parts follow the paper and which are ours). Per layer and kind (K, V), every head h of a group g
// becomes a learned mix of the group's heads in the aligned frame, W'_h = Σ_{j∈g} ω_hj W̃_j (biases alike), with ω = I at
// step 0 — the model is the original. The operators train end to end with the lab's training loop (src/train/trainer.ts,
// KL to the original), alone or with every weight, while an augmented Lagrangian on each group's disagreement
// c_g = Σ_{h∈g} ‖ω_h − ω̄_g‖² pulls its rows together; at the end each group collapses to one head with coefficients ω̄_g
// (rescaled to the members' mean energy when the recipe renormalises): exact when the rows agree. Collapsing at step 0 is
// the merge (the aligned mean), so `merge` is progressive fusion with no steps.
//
// On the GPU every step: W' = Ω·W̃ (the model's K/V weights the forward reads), ∂L/∂Ω = G·W̃ᵀ (G = ∂L/∂W' from the
// backward) and, when the bases train, ∂L/∂W̃ = Ωᵀ·G — three products of the one matmul kernel. The operators themselves
// (n×n per layer and kind) take their Adam step and the Lagrangian on the host in float64.
import type { Model } from '../model/types';
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import type { GpuModel } from '../eval/gpuModel';
import { matmul } from '../gpu/kernels/matmul';
import type { ModelGrads, Trainable } from '../train/params';
import { train, type TrainPoint, type TrainRun, type WeightOperators } from '../train/trainer';
import type { LayerGroups, LayerHeadGrams } from './grouping';
import type { HeadRecipe, TrainSettings } from './recipe';
import { alignedFrame, collapseGroups, type LayerCoefficients } from './merge';
import { collapseCoefficients, groupDisagreement, groupGammas, identityOperators, KINDS, RHO_END, RHO_START, type Kind, type OperatorBlock } from './operators';
import { adamRef } from '../reference/training';

/** Per layer and kind, each group's disagreement and multiplier, and the operators (for the live heatmaps). */
export interface OperatorSnapshot {
  k: { n: number; omega: number[]; constraint: number; lambda: number };
  v: { n: number; omega: number[]; constraint: number; lambda: number };
}

export interface FusionStepEvent {
  phase: 'operators';
  step: number;
  steps: number;
  /** The step's training loss (KL to the original). */
  loss: number;
  tokens: number;
  /** ρ this step. */
  rho: number;
  /** Largest c_g / n_g over every group after the step; the rows agree when it is at most AGREEMENT_TOLERANCE. */
  disagreement: number;
  layers: OperatorSnapshot[];
}

interface DerivedWeight {
  layer: number;
  kind: Kind;
  /** The weight the forward reads (W'), its gradient from the backward (G), the base W̃ and its gradient when it trains. */
  derived: GpuTensor;
  grad: GpuTensor;
  base: GpuTensor;
  baseGrad: GpuTensor | null;
  /** Values per head: dh·dim for a matrix, dh for a bias. */
  width: number;
}

/**
 * The operators of every layer and kind, as the trainer's WeightOperators: the K/V weights and biases of the model become
 * Ω·W̃, ∂L/∂Ω is gathered after the backward, and Adam plus the Lagrangian update Ω after each step.
 */
export class FusionOperators implements WeightOperators {
  readonly blocks: Record<Kind, OperatorBlock>[];
  private readonly weights: DerivedWeight[] = [];
  private readonly omegaT: Record<Kind, GpuTensor>[] = [];
  private gradOmega: GpuTensor | null = null;
  private grads: Float32Array | null = null;
  /** ∂L/∂Ω of the latest step, per layer and kind (n×n, every entry: the block mask applies in the update). */
  lastGradient: Record<Kind, Float64Array>[] = [];
  private readonly owned: GpuTensor[] = [];
  readonly history: {
    step: number;
    loss: number;
    rho: number;
    disagreement: number;
    constraint: { k: number; v: number }[];
    lambda: { k: number; v: number }[];
  }[] = [];

  constructor(
    private readonly rt: GpuRuntime,
    model: Model,
    groups: LayerGroups[],
    private readonly o: { steps: number; trains: 'operators' | 'all'; lr: number; tokensPerStep: number; onEvent?: (e: FusionStepEvent) => void },
  ) {
    this.blocks = groups.map((g, l) => ({
      k: identityOperators(model.layers[l].kv.kHeads, g.k),
      v: identityOperators(model.layers[l].kv.vHeads, g.v),
    }));
  }

  private offset(l: number, kind: Kind): number {
    let off = 0;
    for (let i = 0; i < l; i++) off += this.blocks[i].k.n ** 2 + this.blocks[i].v.n ** 2;
    return kind === 'k' ? off : off + this.blocks[l].k.n ** 2;
  }

  async attach(gm: GpuModel, params: { trainables: Trainable[]; grads: ModelGrads }): Promise<void> {
    const { rt } = this;
    const { dim, headDim: dh } = gm.model.config;
    const keep = (t: GpuTensor) => (this.owned.push(t), t);
    for (let l = 0; l < gm.layers.length; l++) {
      for (const kind of KINDS) {
        const parts = [
          { name: `w${kind}` as const, width: dh * dim },
          { name: `b${kind}` as const, width: dh },
        ];
        for (const p of parts) {
          const derived = gm.layers[l][p.name];
          if (!derived) continue;
          const grad = params.grads.layers[l][p.name];
          if (!grad) throw new Error(`progressive fusion: the backward gives no gradient of layers.${l}.${p.name}`);
          const host = await rt.read(derived);
          const base = keep(await rt.tensor(`fusion base ${l}.${p.name}`, host));
          const name = `layers.${l}.${p.name}`;
          const at = params.trainables.findIndex((t) => t.name === name);
          let baseGrad: GpuTensor | null = null;
          if (this.o.trains === 'all') {
            if (at < 0) throw new Error(`progressive fusion: ${name} is not trained`);
            baseGrad = keep(await rt.tensor(`∇fusion base ${l}.${p.name}`, derived.length));
            // The optimizer steps the base; the backward still writes G into the derived weight's gradient.
            params.trainables[at] = { ...params.trainables[at], param: base, grad: baseGrad };
          } else if (at >= 0) params.trainables.splice(at, 1);
          this.weights.push({ layer: l, kind, derived, grad, base, baseGrad, width: p.width });
        }
      }
    }
    for (let l = 0; l < gm.layers.length; l++) {
      this.omegaT.push({
        k: keep(await rt.tensor(`Ω ${l} K`, Float32Array.from(this.blocks[l].k.omega))),
        v: keep(await rt.tensor(`Ω ${l} V`, Float32Array.from(this.blocks[l].v.omega))),
      });
    }
    this.gradOmega = keep(await rt.tensor('∇Ω', this.offset(gm.layers.length, 'k')));
    await this.applyOperators();
  }

  /** Uploads the operators as they are in `blocks` and recomputes W' = Ω·W̃ for every derived weight. */
  async applyOperators() {
    this.blocks.forEach((lb, l) => KINDS.forEach((kind) => this.rt.upload(this.omegaT[l][kind], Float32Array.from(lb[kind].omega))));
    for (const w of this.weights) {
      const n = this.blocks[w.layer][w.kind].n;
      await matmul(this.rt, this.omegaT[w.layer][w.kind], w.base, w.derived, { M: n, K: n, N: w.width });
    }
  }

  async afterBackward(): Promise<void> {
    const { rt } = this;
    const seen = new Set<string>();
    for (const w of this.weights) {
      const n = this.blocks[w.layer][w.kind].n;
      const key = `${w.layer}${w.kind}`;
      // ∂L/∂Ω = G·W̃ᵀ, matrix and bias summed into one n×n block.
      await matmul(rt, w.grad, w.base, this.gradOmega!, {
        M: n,
        N: n,
        K: w.width,
        transB: true,
        offsetC: this.offset(w.layer, w.kind),
        beta: seen.has(key) ? 1 : 0,
      });
      seen.add(key);
      if (w.baseGrad) await matmul(rt, this.omegaT[w.layer][w.kind], w.grad, w.baseGrad, { M: n, N: w.width, K: n, transA: true });
    }
    this.grads = await rt.read(this.gradOmega!);
    this.lastGradient = this.blocks.map((lb, l) => ({
      k: Float64Array.from(this.grads!.subarray(this.offset(l, 'k'), this.offset(l, 'k') + lb.k.n ** 2)),
      v: Float64Array.from(this.grads!.subarray(this.offset(l, 'v'), this.offset(l, 'v') + lb.v.n ** 2)),
    }));
    for (const w of this.weights) rt.zero(w.grad);
  }

  /** ρ at step k of S (1-based). */
  rho(step: number): number {
    const S = Math.max(1, this.o.steps - 1);
    return RHO_START * (RHO_END / RHO_START) ** Math.min(1, (step - 1) / S);
  }

  async afterStep(step: number, _lr: number, loss: number): Promise<void> {
    const lr = this.o.lr * 0.5 * (1 + Math.cos((Math.PI * (step - 1)) / Math.max(1, this.o.steps)));
    const rho = this.rho(step);
    let worst = 0;
    const constraint: { k: number; v: number }[] = [];
    const lambda: { k: number; v: number }[] = [];
    this.blocks.forEach((lb, l) => {
      const c: Record<Kind, number> = { k: 0, v: 0 };
      const lam: Record<Kind, number> = { k: 0, v: 0 };
      for (const kind of KINDS) {
        const b = lb[kind];
        const { n, omega } = b;
        const off = this.offset(l, kind);
        // Adam (the float64 reference's) on the loss's gradient inside each group's block: entries outside keep a zero
        // gradient and moments, so they stay 0.
        const g = new Float64Array(n * n);
        for (const grp of b.groups) for (const h of grp) for (const j of grp) g[h * n + j] = this.grads![off + h * n + j];
        const next = adamRef(omega, g, b.m, b.v, step, { lr });
        omega.set(next.theta);
        b.m.set(next.m);
        b.v.set(next.v);
        // The augmented Lagrangian λ_g c_g + ρ/2 c_g²: its gradient (λ_g + ρ c_g)·2(ω_h − ω̄_g) taken as an implicit
        // (proximal) step — the deviations shrink by 1/(1 + 2μ), stable for any μ — then λ_g ← λ_g + ρ c_g.
        b.groups.forEach((g, gi) => {
          if (g.length < 2) return;
          const { mean, c: cg } = groupDisagreement(omega, n, g);
          const mu = b.lambda[gi] + rho * cg;
          for (const h of g) g.forEach((j, i) => (omega[h * n + j] = mean[i] + (omega[h * n + j] - mean[i]) / (1 + 2 * mu)));
          b.lambda[gi] += rho * cg;
          const after = groupDisagreement(omega, n, g).c;
          c[kind] += after;
          lam[kind] = Math.max(lam[kind], b.lambda[gi]);
          worst = Math.max(worst, after / g.length);
        });
      }
      constraint.push(c);
      lambda.push(lam);
    });
    await this.applyOperators();
    this.history.push({ step, loss, rho, disagreement: worst, constraint, lambda });
    this.o.onEvent?.({
      phase: 'operators',
      step,
      steps: this.o.steps,
      loss,
      tokens: step * this.o.tokensPerStep,
      rho,
      disagreement: worst,
      layers: this.snapshot(),
    });
  }

  snapshot(): OperatorSnapshot[] {
    return this.blocks.map((lb) => {
      const one = (kind: Kind) => {
        const b = lb[kind];
        return {
          n: b.n,
          omega: Array.from(b.omega),
          constraint: b.groups.reduce((a, g) => a + groupDisagreement(b.omega, b.n, g).c, 0),
          lambda: Math.max(0, ...b.lambda),
        };
      };
      return { k: one('k'), v: one('v') };
    });
  }

  /** The largest c_g / n_g now. */
  disagreement(): number {
    let worst = 0;
    for (const lb of this.blocks)
      for (const kind of KINDS) for (const g of lb[kind].groups) worst = Math.max(worst, groupDisagreement(lb[kind].omega, lb[kind].n, g).c / g.length);
    return worst;
  }

  /** Each layer's collapse coefficients (renormalised with the aligned Grams when given). */
  coefficients(gammas: Record<Kind, (Float64Array | null)[]>[] | null): LayerCoefficients[] {
    return this.blocks.map((lb, l) => ({ k: collapseCoefficients(lb.k, gammas?.[l].k ?? null), v: collapseCoefficients(lb.v, gammas?.[l].v ?? null) }));
  }

  release(): void {
    this.owned.forEach((t) => this.rt.release(t));
    this.owned.length = 0;
  }
}

export interface ProgressiveResult {
  /** The collapsed model (one head per group). */
  model: Model;
  /** The fusion stage's held-out curve (step 0: the original's perplexity). */
  curve: TrainPoint[];
  history: FusionOperators['history'];
  /** Largest c_g / n_g at the collapse. */
  disagreement: number;
  trainSteps: number;
  trainTokens: number;
  pausedSeconds: number;
}

/**
 * Progressive fusion of `model` for a recipe's groups: the aligned frame, `r.ownSteps` end-to-end steps of
 * `r.own.tokensPerStep` tokens (sequences of `r.own.seqLen`) training the operators (and every weight when
 * r.own.fusionTrains is 'all', with the training settings `train`), then the collapse.
 */
export async function progressiveFusion(
  rt: GpuRuntime,
  model: Model,
  groups: LayerGroups[],
  headGrams: LayerHeadGrams[] | null,
  r: HeadRecipe,
  data: { sequences: number[][]; seed: number; evalDocs?: number[][] | null; train?: TrainSettings | null },
  run: Pick<TrainRun, 'gate' | 'signal' | 'onProgress' | 'maxBytes'> & { onEvent?: (e: FusionStepEvent) => void } = {},
): Promise<ProgressiveResult> {
  const frame = alignedFrame(model, groups, headGrams, r);
  const seqLen = Math.min(r.own.seqLen, r.own.tokensPerStep, model.config.contextLength);
  const batch = Math.max(1, Math.round(r.own.tokensPerStep / seqLen));
  const ops = new FusionOperators(rt, frame.model, groups, {
    steps: r.ownSteps,
    trains: r.own.fusionTrains,
    lr: r.own.operatorLr,
    tokensPerStep: batch * seqLen,
    onEvent: run.onEvent,
  });
  const { steps: _s, evalEvery, ...settings } = data.train ?? { steps: 0, evalEvery: 0 };
  const result = await train(
    rt,
    frame.model,
    data.sequences,
    {
      ...settings,
      steps: r.ownSteps,
      batch,
      seqLen,
      params: r.own.fusionTrains === 'all' ? 'all' : 'kv',
      loss: 'kl',
      seed: data.seed,
      evalEvery: evalEvery ?? 0,
    },
    {
      teacher: model,
      evalDocs: data.evalDocs,
      operators: ops,
      gate: run.gate,
      signal: run.signal,
      onProgress: run.onProgress && ((p) => run.onProgress!({ ...p, stage: 'fusion' })),
      maxBytes: run.maxBytes,
    },
  );
  const coef = ops.coefficients(groupGammas(groups, headGrams, frame.alignments, r.renormalise));
  return {
    model: collapseGroups(result.model, groups, coef, r.kvGroups),
    curve: result.curve,
    history: ops.history,
    disagreement: ops.disagreement(),
    trainSteps: result.steps,
    trainTokens: result.tokens,
    pausedSeconds: result.pausedSeconds,
  };
}
