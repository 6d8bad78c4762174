// Runners for attention with stored probabilities and its backward pass through the head maps (shaders/attention_grad.wgsl),
// used by end-to-end training and DHA's layer-local training; Adam lives in ./optimizer. Float64 CPU references:
// src/reference/training.ts.
import gradCode from '../../../shaders/attention_grad.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { need } from './check';

export interface AttnGradShape {
  B: number;
  T: number;
  heads: number;
  kHeads: number;
  vHeads: number;
  dh: number;
  /** 0: global; otherwise keys j > i − window only. */
  window: number;
  scale: number;
}


const run = (rt: GpuRuntime, entry: string, buffers: Record<string, GpuTensor>, s: AttnGradShape, items: number) =>
  rt.run({ code: gradCode, label: `attention-grad ${entry}`, entryPoint: entry }, { buffers, params: { ...s }, workgroups: rt.grid(Math.ceil(items / 64)) });

/** P = softmax(scale · q kᵀ + mask), [B, heads, T, T]. */
export async function attentionProbs(rt: GpuRuntime, q: GpuTensor, k: GpuTensor, maps: GpuTensor, P: GpuTensor, s: AttnGradShape) {
  need('probs', q, s.B * s.T * s.heads * s.dh);
  need('probs', k, s.B * s.T * s.kHeads * s.dh);
  need('probs', P, s.B * s.heads * s.T * s.T);
  await run(rt, 'probs', { q, k, maps, P }, s, s.B * s.heads * s.T);
}

/** a = P v, [B, T, heads, dh]. */
export async function attentionContext(rt: GpuRuntime, P: GpuTensor, v: GpuTensor, maps: GpuTensor, a: GpuTensor, s: AttnGradShape) {
  need('context', v, s.B * s.T * s.vHeads * s.dh);
  need('context', a, s.B * s.T * s.heads * s.dh);
  await run(rt, 'context', { P, v, maps, a }, s, s.B * s.T * s.heads * s.dh);
}

/** dS = scale · P ⊙ (dP − rowsum(P ⊙ dP)), dP = dA vᵀ. */
export async function attentionScoresGrad(rt: GpuRuntime, P: GpuTensor, dA: GpuTensor, v: GpuTensor, maps: GpuTensor, dS: GpuTensor, s: AttnGradShape) {
  need('dscores', dA, s.B * s.T * s.heads * s.dh);
  need('dscores', dS, s.B * s.heads * s.T * s.T);
  await run(rt, 'dscores', { P, dA, v, maps, dS }, s, s.B * s.heads * s.T);
}

/** Gradient of the rotated keys: dK = Σ_h dSᵀ q over the query heads reading each K head, [B, T, kHeads, dh]. */
export async function attentionKeysGrad(rt: GpuRuntime, dS: GpuTensor, q: GpuTensor, maps: GpuTensor, grad: GpuTensor, s: AttnGradShape) {
  need('dkeys', grad, s.B * s.T * s.kHeads * s.dh);
  await run(rt, 'dkeys', { dS, q, maps, grad }, s, s.B * s.T * s.kHeads * s.dh);
}

/** Gradient of the values: dV = Σ_h Pᵀ dA over the query heads reading each V head, [B, T, vHeads, dh]. */
export async function attentionValuesGrad(rt: GpuRuntime, P: GpuTensor, dA: GpuTensor, maps: GpuTensor, grad: GpuTensor, s: AttnGradShape) {
  need('dvalues', grad, s.B * s.T * s.vHeads * s.dh);
  await run(rt, 'dvalues', { P, dA, maps, grad }, s, s.B * s.T * s.vHeads * s.dh);
}

/** Gradient of the rotated queries: dQ_h = dS_h k_{map(h)}, [B, T, heads, dh]. */
export async function attentionQueriesGrad(rt: GpuRuntime, dS: GpuTensor, k: GpuTensor, maps: GpuTensor, grad: GpuTensor, s: AttnGradShape) {
  need('dqueries', k, s.B * s.T * s.kHeads * s.dh);
  need('dqueries', grad, s.B * s.T * s.heads * s.dh);
  await run(rt, 'dqueries', { dS, k, maps, grad }, s, s.B * s.T * s.heads * s.dh);
}

export { adamStep, type AdamState, type AdamHyper } from './optimizer';
