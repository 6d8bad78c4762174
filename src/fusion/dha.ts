// DHA — Decoupled-Head Attention from an MHA (or GQA) checkpoint. The paper's equations are not public (ALGORITHMS.md §3);
// this is OUR reconstruction of its three stages, at lab scale:
//  1. Search: for every layer, separately for K and V, the best partition of its heads into n groups for every n, by merge
//     cost (the data-weighted fusion loss of collapsing each group to its aligned mean, from calibration Grams); an exact DP
//     shares the global budget across layers (K and V budgets independent). The budget path from 100 % down to the target
//     is reported step by step, so the live view shows where heads go as the budget tightens.
//  2. Fusion: members of each group are aligned (GPA, folded into W_Q/W_K and W_V/W_O: the function is unchanged), then a
//     linear fusion operator Ω per layer and kind, initialised at the identity (step 0 is the original model), is trained by
//     Adam on the layer-local attention-output loss, with an augmented-Lagrangian term λ₁c + λ₂c² on c = L_fus − ε(k), where
//     L_fus = Σ_groups (1/n²) Σ_{o,o'} ‖ω_o − ω_o'‖² and the tolerance ε(k) falls linearly to 0 over the first 80 % of steps
//     (λ₁ ← λ₁ + η c, λ₂ ← λ₂ + η c², as in the Sheared-LLaMA code DHA builds on).
//  3. Materialise: each group's fused head is W̄ = Σ_i ω̄_i W_i with ω̄ the mean of its members' operator rows (equal when
//     L_fus = 0); query heads read their group's K head and V head (decoupled maps). Optionally a recovery phase trains the
//     merged K/V weights on the same layer-local loss.
// Inputs of every layer are teacher-forced from the original model; each step sees `tokensPerStep` calibration tokens.
import type { Model } from '../model/types';
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { GpuModel } from '../eval/gpuModel';
import { ForwardPass } from '../eval/forward';
import { calibrate } from '../analysis/calibration';
import { throwIfAborted } from '../model/errors';
import type { LongWorkOptions } from '../progress';
import { allocateBudget, headsAtBudget, layerOptions, type LayerOptions } from './methods';
import { foldRotations, mergeHeads, type HeadMap, type LayerMerge } from './edit';
import { alignGroup, HeadGrams, rotaryPlanes } from './align';
import { LayerTrainer } from './layerTrainer';
import { seededRandom } from '../eval/generate';
import { trainingWindows } from '../train/data';

export interface DhaOptions {
  budget: number;
  /** Gradient steps of the fusion stage. */
  steps: number;
  /** Gradient steps of the recovery stage (merged K/V weights). */
  recoverySteps: number;
  seed: number;
  /** Calibration tokens per step (sequences of `seqLen` positions; a step holds at least one sequence). */
  tokensPerStep: number;
  seqLen: number;
  /** Adam learning rate of the operators. */
  lr: number;
  /** Adam learning rate of the merged weights in recovery. */
  recoveryLr: number;
  /** Multiplier step η of the augmented Lagrangian. */
  lagrangianLr: number;
  /** Recovery: layer inputs from the original model ('teacher') or from the fused model being trained ('student'). */
  recoveryInputs: 'teacher' | 'student';
  /** Called between steps; resolves when the run may go on (pause / single step in the UI). */
  gate?: () => Promise<void>;
  onEvent?: (e: DhaEvent) => void;
}

export const DHA_DEFAULTS: Omit<DhaOptions, 'budget'> = {
  steps: 100,
  recoverySteps: 0,
  seed: 1,
  tokensPerStep: 4096,
  seqLen: 256,
  lr: 0.02,
  recoveryLr: 3e-3,
  lagrangianLr: 1,
  recoveryInputs: 'student',
};

export type DhaEvent =
  | {
      phase: 'search';
      /** Heads kept per layer at this point of the budget path. */
      perLayer: { k: number; v: number }[];
      /** Budget fraction this allocation is for. */
      budget: number;
      /** Merge cost per layer and n (K and V), for charts. */
      costs: { k: number[][]; v: number[][] };
    }
  | {
      phase: 'fusion' | 'recovery';
      step: number;
      steps: number;
      /** Mean layer-local loss this step (relative squared error of attention outputs). */
      loss: number;
      lossPerLayer: number[];
      /** Σ over layers of the fusion loss, K and V (fusion phase). */
      fusionLoss: { k: number; v: number };
      /** Constraint residual c = L_fus − ε, summed (fusion phase). */
      constraint: number;
      /** Operators per layer (fusion phase): n×n row-major. */
      operators?: { k: Float32Array; v: Float32Array }[];
      /**
       * Per layer (fusion phase), how alike the fused heads' outputs are: tr(K̃_oᵀK̃_o') / √(‖K̃_o‖² ‖K̃_o'‖²) from the aligned
       * heads' Gram traces (K̃ = Ω K). Heads of a group reach 1 as their operators become equal.
       */
      similarity?: { k: number[][]; v: number[][] }[];
      perLayer: { k: number; v: number }[];
      tokens: number;
    };

export interface DhaResult {
  model: Model;
  perLayer: { k: number; v: number }[];
  groups: { k: number[][]; v: number[][] }[];
  trainSteps: number;
  trainTokens: number;
  /** Seconds spent waiting at `gate` (paused), not part of the work. */
  pausedSeconds: number;
  history: { phase: 'fusion' | 'recovery'; step: number; loss: number; fusionLoss: number }[];
}

function fusionLoss(w: Float32Array, groups: number[], n: number): number {
  let L = 0;
  const size = new Map<number, number>();
  for (const g of groups) size.set(g, (size.get(g) ?? 0) + 1);
  for (let o = 0; o < n; o++) for (let o2 = 0; o2 < n; o2++) {
    if (groups[o] !== groups[o2]) continue;
    let d = 0;
    for (let i = 0; i < n; i++) d += (w[o * n + i] - w[o2 * n + i]) ** 2;
    L += d / size.get(groups[o])! ** 2;
  }
  return L;
}

/** Fused heads' output similarity from the operator Ω [n·n] and the trace matrix A_ij = tr(Y_iᵀY_j) of the source heads. */
export function fusedSimilarity(omega: ArrayLike<number>, A: number[][]): number[][] {
  const n = A.length;
  const M = Array.from({ length: n }, (_, o) => Array.from({ length: n }, (_, o2) => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s += omega[o * n + i] * omega[o2 * n + j] * A[i][j];
    return s;
  }));
  return M.map((row, o) => row.map((v, o2) => Math.max(-1, Math.min(1, v / (Math.sqrt(M[o][o] * M[o2][o2]) || 1)))));
}

/** Stage 1: per-layer options and the allocation at the budget (and along the way, reported). */
export async function dhaSearch(
  rt: GpuRuntime, model: Model, grams: Awaited<ReturnType<typeof calibrate>>, budget: number, onEvent?: (e: DhaEvent) => void, signal?: AbortSignal,
): Promise<{ k: number[]; v: number[]; options: { k: LayerOptions[]; v: LayerOptions[] } }> {
  const options = { k: [] as LayerOptions[], v: [] as LayerOptions[] };
  for (let l = 0; l < model.layers.length; l++) {
    throwIfAborted(signal);
    options.k.push((await layerOptions(model, l, 'k', grams[l], rt)).options);
    options.v.push((await layerOptions(model, l, 'v', grams[l], rt)).options);
  }
  const totalK = model.layers.reduce((s, l) => s + l.kv.kHeads, 0);
  const totalV = model.layers.reduce((s, l) => s + l.kv.vHeads, 0);
  const wantK = Math.max(model.layers.length, headsAtBudget(totalK, budget));
  const wantV = Math.max(model.layers.length, headsAtBudget(totalV, budget));
  const costs = { k: options.k.map((o) => o.cost), v: options.v.map((o) => o.cost) };
  // The budget path: from every head down to the target, one head at a time for the larger of K and V.
  const stepsK = totalK - wantK;
  const stepsV = totalV - wantV;
  const path = Math.max(stepsK, stepsV, 0);
  for (let s = 1; s <= path; s++) {
    const bk = totalK - Math.round((stepsK * s) / path);
    const bv = totalV - Math.round((stepsV * s) / path);
    const k = allocateBudget(costs.k, bk);
    const v = allocateBudget(costs.v, bv);
    onEvent?.({ phase: 'search', perLayer: k.map((n, l) => ({ k: n, v: v[l] })), budget: (bk + bv) / (totalK + totalV), costs });
  }
  const k = allocateBudget(costs.k, wantK);
  const v = allocateBudget(costs.v, wantV);
  if (!path) onEvent?.({ phase: 'search', perLayer: k.map((n, l) => ({ k: n, v: v[l] })), budget: (wantK + wantV) / (totalK + totalV), costs });
  return { k, v, options };
}

/** Every layer's attention input for a batch of windows, from a model's forward pass (the original: teacher forcing). */
class LayerInputs {
  private constructor(readonly fp: ForwardPass, readonly X: GpuTensor[], readonly gm: GpuModel) {}
  static async create(rt: GpuRuntime, model: Model, B: number, T: number): Promise<LayerInputs> {
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: B, chunk: T, cacheT: T });
    const X: GpuTensor[] = [];
    for (let l = 0; l < model.layers.length; l++) X.push(await rt.tensor(`layer input X ${l}`, B * T * model.config.dim));
    return new LayerInputs(fp, X, gm);
  }
  async run(windows: number[][], T: number) {
    const ids = Uint32Array.from(windows.flat());
    const rt = this.gm.rt;
    await this.fp.run(ids, T, 0, undefined, {
      skipLogits: true,
      attentionInput: async (layer, x, rows) => rt.copy(x, this.X[layer], rows * this.gm.model.config.dim),
    });
  }
  release() {
    this.fp.release();
    this.X.forEach((t) => this.gm.rt.release(t));
    this.gm.release();
  }
}

export async function dhaFuse(
  rt: GpuRuntime, model: Model, sequences: number[][], opts: Partial<DhaOptions> & { budget: number } & LongWorkOptions,
): Promise<DhaResult> {
  const o: DhaOptions = { ...DHA_DEFAULTS, ...opts };
  const L = model.layers.length;
  const seqLen = Math.min(o.seqLen, o.tokensPerStep, model.config.contextLength);
  const windows = trainingWindows(sequences, seqLen);
  if (!windows.length) throw new Error('DHA needs calibration text of at least two tokens');
  const T = windows[0].length;
  const B = Math.max(1, Math.min(windows.length, Math.round(o.tokensPerStep / T)));
  // Stage 1: Grams and the search.
  const gmCal = await GpuModel.upload(rt, model);
  let grams: Awaited<ReturnType<typeof calibrate>>;
  try {
    grams = await calibrate(gmCal, sequences, { signal: opts.signal, onProgress: opts.onProgress });
  } finally {
    gmCal.release();
  }
  opts.onProgress?.({ stage: 'search', done: 0, total: 1 });
  const search = await dhaSearch(rt, model, grams, o.budget, o.onEvent, opts.signal);
  opts.onProgress?.({ stage: 'search', done: 1, total: 1, detail: `K ${search.k.join('/')}, V ${search.v.join('/')}` });
  const groups = model.layers.map((_, l) => ({ k: search.options.k[l].partitions[search.k[l] - 1], v: search.options.v[l].partitions[search.v[l] - 1] }));
  const perLayer = groups.map((g) => ({ k: g.k.length, v: g.v.length }));
  // Stage 2: align inside groups (exact), then train operators.
  let base = model;
  const planes = rotaryPlanes(model);
  for (let l = 0; l < L; l++) {
    const kg = await HeadGrams.of(model, l, 'k', grams[l], rt);
    const vg = await HeadGrams.of(model, l, 'v', grams[l], rt);
    const kRot: (HeadMap | null)[] = new Array(model.layers[l].kv.kHeads).fill(null);
    const vRot: (HeadMap | null)[] = new Array(model.layers[l].kv.vHeads).fill(null);
    for (const g of groups[l].k) alignGroup(kg, g, planes).maps.forEach((m, i) => (kRot[g[i]] = m));
    for (const g of groups[l].v) alignGroup(vg, g, []).maps.forEach((m, i) => (vRot[g[i]] = m));
    base = foldRotations(base, l, kRot, vRot);
  }
  // Traces of the aligned heads' cross-Grams, for the live similarity of the fused heads.
  const traces: { k: number[][]; v: number[][] }[] = [];
  for (let l = 0; l < L; l++) {
    const tr = async (kind: 'k' | 'v') => {
      const g = await HeadGrams.of(base, l, kind, grams[l], rt);
      return Array.from({ length: g.n }, (_, i) => Array.from({ length: g.n }, (_, j) => {
        const b = g.block(i, j);
        let t = 0;
        for (let a = 0; a < g.dh; a++) t += b[a * g.dh + a];
        return t;
      }));
    };
    traces.push({ k: await tr('k'), v: await tr('v') });
  }
  let pausedMs = 0;
  const gate = async () => {
    if (!o.gate) return;
    const t0 = performance.now();
    await o.gate();
    pausedMs += performance.now() - t0;
  };
  const groupOf = (gs: number[][], n: number) => {
    const out = new Array<number>(n);
    gs.forEach((g, gi) => g.forEach((h) => (out[h] = gi)));
    return out;
  };
  const rand = seededRandom(o.seed);
  const order = windows.map((_, i) => i);
  let cursor = order.length;
  const nextBatch = () => {
    const out: number[][] = [];
    while (out.length < B) {
      if (cursor >= order.length) {
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          [order[i], order[j]] = [order[j], order[i]];
        }
        cursor = 0;
      }
      out.push(windows[order[cursor++]]);
    }
    return out;
  };
  const teacherIn = await LayerInputs.create(rt, model, B, T);
  let studentIn: LayerInputs | null = null;
  const targets: GpuTensor[] = [];
  const teachers: LayerTrainer[] = [];
  const students: LayerTrainer[] = [];
  const history: DhaResult['history'] = [];
  let trainTokens = 0;
  let step = 0;
  try {
    for (let l = 0; l < L; l++) {
      teachers.push(await LayerTrainer.create(rt, { model, layer: l, B, T, mode: 'frozen' }));
      targets.push(await rt.tensor(`target ${l}`, B * T * model.config.dim));
    }
    /** One batch: teacher inputs and targets for every layer, loaded into the given trainers. */
    const loadBatch = async (trainers: LayerTrainer[]) => {
      const batch = nextBatch();
      await teacherIn.run(batch, T);
      if (studentIn) await studentIn.run(batch, T);
      for (let l = 0; l < L; l++) {
        await teachers[l].setInput(teacherIn.X[l]);
        await teachers[l].forward();
        rt.copy(teachers[l].output, targets[l], B * T * model.config.dim);
        await trainers[l].setInput((studentIn ?? teacherIn).X[l]);
        await trainers[l].setTarget(targets[l]);
      }
    };
    for (let l = 0; l < L; l++) {
      students.push(
        await LayerTrainer.create(rt, {
          model: base, layer: l, B, T, mode: 'operators',
          kGroupOf: groupOf(groups[l].k, base.layers[l].kv.kHeads), vGroupOf: groupOf(groups[l].v, base.layers[l].kv.vHeads),
        }),
      );
    }
    const lam = students.map(() => ({ k: [0, 0], v: [0, 0], eps0: { k: -1, v: -1 } }));
    const fusionSteps = o.steps;
    for (step = 1; step <= fusionSteps; step++) {
      throwIfAborted(opts.signal);
      await gate();
      await loadBatch(students);
      const losses: number[] = [];
      const ops: { k: Float32Array; v: Float32Array }[] = [];
      let fk = 0;
      let fv = 0;
      let cons = 0;
      for (let l = 0; l < L; l++) {
        const s = students[l];
        const cur = await s.operators();
        const pulls = { k: 0, v: 0 };
        for (const kind of ['k', 'v'] as const) {
          const n = s[kind].nSrc;
          const lf = fusionLoss(cur[kind], s[kind].groups, n);
          if (lam[l].eps0[kind] < 0) lam[l].eps0[kind] = lf;
          const eps = lam[l].eps0[kind] * Math.max(0, 1 - step / (0.8 * fusionSteps));
          const c = lf - eps;
          const [l1, l2] = lam[l][kind];
          pulls[kind] = l1 + 2 * l2 * c;
          lam[l][kind] = [l1 + o.lagrangianLr * c, l2 + o.lagrangianLr * c * c];
          if (kind === 'k') fk += lf;
          else fv += lf;
          cons += c;
        }
        await s.forward();
        losses.push(await s.loss());
        await s.backward(pulls);
        await s.step(o.lr);
        ops.push(cur);
      }
      trainTokens += B * T;
      const loss = losses.reduce((a, b) => a + b, 0) / L;
      history.push({ phase: 'fusion', step, loss, fusionLoss: fk + fv });
      o.onEvent?.({ phase: 'fusion', step, steps: fusionSteps, loss, lossPerLayer: losses, fusionLoss: { k: fk, v: fv }, constraint: cons, operators: ops,
        similarity: ops.map((op, l) => ({ k: fusedSimilarity(op.k, traces[l].k), v: fusedSimilarity(op.v, traces[l].v) })),
        perLayer, tokens: trainTokens,
      });
      opts.onProgress?.({ stage: 'fusion', done: step, total: fusionSteps, detail: `loss ${loss.toExponential(3)}, fusion ${(fk + fv).toExponential(2)}` });
    }
    // Stage 3: materialise with the mean operator row of each group.
    const merges: LayerMerge[] = [];
    for (let l = 0; l < L; l++) {
      const cur = await students[l].operators();
      const coef = (w: Float32Array, gs: number[][], n: number) =>
        gs.map((g) => g.map((i) => g.reduce((acc, o2) => acc + w[o2 * n + i], 0) / g.length));
      merges.push({
        kGroups: groups[l].k, vGroups: groups[l].v,
        kCoef: fusionSteps > 0 ? coef(cur.k, groups[l].k, base.layers[l].kv.kHeads) : undefined,
        vCoef: fusionSteps > 0 ? coef(cur.v, groups[l].v, base.layers[l].kv.vHeads) : undefined,
      });
    }
    students.forEach((s) => s.release());
    students.length = 0;
    let fused = mergeHeads(base, merges);
    fused = { ...fused, source: { ...fused.source, format: 'dha' } };
    // Optional recovery: the merged K/V weights on the same layer-local loss.
    if (o.recoverySteps > 0) {
      for (let l = 0; l < L; l++) students.push(await LayerTrainer.create(rt, { model: fused, layer: l, B, T, mode: 'weights' }));
      // 'student' inputs: each layer sees what the fused model before it produces (GPTQ-style), so later layers learn to
      // compensate earlier layers' errors; the trained K/V weights go into that model after every step.
      if (o.recoveryInputs === 'student') studentIn = await LayerInputs.create(rt, fused, B, T);
      for (let r = 1; r <= o.recoverySteps; r++) {
        throwIfAborted(opts.signal);
        await gate();
        await loadBatch(students);
        const losses: number[] = [];
        for (const [l, s] of students.entries()) {
          await s.forward();
          losses.push(await s.loss());
          await s.backward();
          await s.step(o.recoveryLr);
          if (studentIn) {
            rt.copy(s.k.w, studentIn.gm.layers[l].wk);
            rt.copy(s.v.w, studentIn.gm.layers[l].wv);
          }
        }
        trainTokens += B * T;
        const loss = losses.reduce((a, b) => a + b, 0) / L;
        history.push({ phase: 'recovery', step: fusionSteps + r, loss, fusionLoss: 0 });
        o.onEvent?.({ phase: 'recovery', step: r, steps: o.recoverySteps, loss, lossPerLayer: losses, fusionLoss: { k: 0, v: 0 }, constraint: 0, perLayer, tokens: trainTokens });
        opts.onProgress?.({ stage: 'recovery', done: r, total: o.recoverySteps, detail: `loss ${loss.toExponential(3)}` });
      }
      const layers = [...fused.layers];
      for (let l = 0; l < L; l++) {
        const w = await students[l].weights();
        layers[l] = { ...layers[l], attn: { ...layers[l].attn, wk: w.k, wv: w.v } };
      }
      fused = { ...fused, layers };
    }
    return { model: fused, perLayer, groups, trainSteps: fusionSteps + o.recoverySteps, trainTokens, pausedSeconds: pausedMs / 1000, history };
  } finally {
    [...teachers, ...students].forEach((s) => s.release());
    targets.forEach((t) => rt.release(t));
    teacherIn.release();
    studentIn?.release();
  }
}
