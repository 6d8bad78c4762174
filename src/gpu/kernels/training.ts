// Runners for attention with stored probabilities and its backward pass through the head maps (shaders/attention_grad.wgsl),
// used by end-to-end training and DHA's layer-local training; Adam lives in ./optimizer. Float64 CPU references:
// src/reference/training.ts.
import gradCode from '../../../shaders/attention_grad.wgsl?raw';
import flashGradCode from '../../../shaders/attention_flash_grad.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { need } from './check';
import { specialize } from './specialize';

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

/** Whether attention training runs flash-style: on GPUs, for head dims divisible by 4 (CPU fallbacks keep the probabilities). */
export function flashBackwardFor(rt: GpuRuntime, headDim: number): boolean {
  return !rt.summary.isFallbackAdapter && headDim % 4 === 0;
}

/** The flash backward's scratch for a shape: per-row log-sum-exp and D, and per-query-head dK and dV partials. */
export function flashGradScratch(s: AttnGradShape): { lse: number; dKh: number; dVh: number } {
  const rows = s.B * s.T * s.heads;
  return { lse: 2 * rows, dKh: rows * s.dh, dVh: rows * s.dh };
}

/**
 * The whole attention backward without the T × T probabilities (shaders/attention_flash_grad.wgsl): dq [B, T, heads, dh],
 * dk [B, T, kHeads, dh] and dv [B, T, vHeads, dh] from the queries, keys, values, the forward's context `a` and its
 * gradient dA. For GPUs and head dims divisible by 4; `scratch` holds flashGradScratch(s) values each.
 */
export async function attentionBackwardFlash(
  rt: GpuRuntime,
  x: { q: GpuTensor; k: GpuTensor; v: GpuTensor; a: GpuTensor; dA: GpuTensor; maps: GpuTensor },
  grads: { dq: GpuTensor; dk: GpuTensor; dv: GpuTensor },
  scratch: { lse: GpuTensor; dKh: GpuTensor; dVh: GpuTensor },
  s: AttnGradShape,
) {
  if (s.dh % 4 !== 0) throw new RangeError(`attention backward (flash): head dim ${s.dh} is not divisible by 4`);
  const rows = s.B * s.T * s.heads;
  for (const t of [x.q, x.a, x.dA, grads.dq]) need('flash backward', t, rows * s.dh);
  need('flash backward', x.k, s.B * s.T * s.kHeads * s.dh);
  need('flash backward', x.v, s.B * s.T * s.vHeads * s.dh);
  need('flash backward', grads.dk, s.B * s.T * s.kHeads * s.dh);
  need('flash backward', grads.dv, s.B * s.T * s.vHeads * s.dh);
  const sizes = flashGradScratch(s);
  for (const [name, n] of Object.entries(sizes)) need('flash backward', scratch[name as keyof typeof sizes], n);
  const DH4 = s.dh / 4;
  const code = specialize(flashGradCode, { DH4, BT: Math.min(64, Math.floor(480 / DH4)) });
  const kernel = (entryPoint: string) => ({ code, label: `attention-flash-grad ${entryPoint} dh${s.dh}`, entryPoint });
  const params = { ...s, which: 0, n: 0 };
  const blocks: [number, number, number] = [Math.ceil(s.T / 64), s.heads, s.B];
  await rt.run(kernel('stats'), {
    buffers: { q: x.q, k: x.k, dA: x.dA, a: x.a, maps: x.maps, lse: scratch.lse },
    params,
    workgroups: rt.grid(Math.ceil(rows / 64)),
  });
  await rt.run(kernel('keyval'), {
    buffers: { q: x.q, k: x.k, v: x.v, dA: x.dA, maps: x.maps, lse: scratch.lse, dKh: scratch.dKh, dVh: scratch.dVh },
    params,
    workgroups: blocks,
  });
  await rt.run(kernel('query'), { buffers: { q: x.q, k: x.k, v: x.v, dA: x.dA, maps: x.maps, lse: scratch.lse, dq: grads.dq }, params, workgroups: blocks });
  for (const [which, part, out, n] of [
    [0, scratch.dKh, grads.dk, s.kHeads],
    [1, scratch.dVh, grads.dv, s.vHeads],
  ] as const) {
    await rt.run(kernel('gather'), {
      buffers: { part, maps: x.maps, out },
      params: { ...params, which, n },
      workgroups: rt.grid(Math.ceil((s.B * s.T * n * DH4) / 64)),
    });
  }
}

export { adamStep, type AdamState, type AdamHyper } from './optimizer';
