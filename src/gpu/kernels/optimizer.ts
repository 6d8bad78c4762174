// Runners for shaders/adam.wgsl: Adam (fusion stages), and for end-to-end training the gradient's global norm (one sum of
// squares per tensor, then the clipping factor, all on the GPU: no read-back inside a step) and AdamW.
// Float64 CPU references: adamRef and adamwRef in src/reference/training.ts.
import adamRaw from '../../../shaders/adam.wgsl?raw';
import type { GpuRuntime, GpuTensor } from '../runtime';
import { need } from './check';
import { withWorkgroupReduce } from './wgsl';

const adamCode = withWorkgroupReduce(adamRaw);

export interface AdamState {
  m: GpuTensor;
  v: GpuTensor;
  /** Steps taken. */
  t: number;
}

export interface AdamHyper {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** One Adam step on θ (n values) with gradient g; advances state.t. */
export async function adamStep(rt: GpuRuntime, theta: GpuTensor, g: GpuTensor, st: AdamState, h: AdamHyper, n = theta.length) {
  need('adam', g, n);
  need('adam', st.m, n);
  need('adam', st.v, n);
  const beta1 = h.beta1 ?? 0.9;
  const beta2 = h.beta2 ?? 0.999;
  st.t += 1;
  await rt.run(
    { code: adamCode, label: 'adam' },
    {
      buffers: { theta, g, m: st.m, v: st.v },
      params: { n, lr: h.lr, beta1, beta2, eps: h.eps ?? 1e-8, c1: 1 - beta1 ** st.t, c2: 1 - beta2 ** st.t },
      workgroups: rt.grid(Math.ceil(n / 64)),
    },
  );
}

/** sq[slot] = Σ g² over n values. */
export async function sumSquares(rt: GpuRuntime, g: GpuTensor, sq: GpuTensor, slot: number, n = g.length) {
  need('sumsq', g, n);
  need('sumsq', sq, slot + 1);
  await rt.run({ code: adamCode, label: 'sum of squares', entryPoint: 'sumsq' }, { buffers: { g, sq }, params: { n, slot }, workgroups: [1] });
}

/** scale[0] = min(1, maxNorm / ‖g‖), scale[1] = ‖g‖, with ‖g‖² = Σ of the first `slots` entries of sq (maxNorm 0: no clipping). */
export async function clipScale(rt: GpuRuntime, sq: GpuTensor, scale: GpuTensor, slots: number, maxNorm: number) {
  need('clip', sq, slots);
  need('clip', scale, 2);
  await rt.run({ code: adamCode, label: 'clip scale', entryPoint: 'clip' }, { buffers: { sq, scale }, params: { slots, maxNorm }, workgroups: [1] });
}

export interface AdamWHyper extends AdamHyper {
  /** Decoupled weight decay (0: plain Adam). */
  weightDecay?: number;
}

/** One AdamW step on θ with the gradient g scaled by scale[0] (the clipping factor); the caller advances state.t first. */
export async function adamwStep(rt: GpuRuntime, theta: GpuTensor, g: GpuTensor, st: AdamState, scale: GpuTensor, h: AdamWHyper) {
  const n = theta.length;
  need('adamw', g, n);
  need('adamw', st.m, n);
  need('adamw', st.v, n);
  const beta1 = h.beta1 ?? 0.9;
  const beta2 = h.beta2 ?? 0.999;
  await rt.run(
    { code: adamCode, label: 'adamw', entryPoint: 'adamw' },
    {
      buffers: { theta, g, m: st.m, v: st.v, scale },
      params: { n, lr: h.lr, beta1, beta2, eps: h.eps ?? 1e-8, c1: 1 - beta1 ** st.t, c2: 1 - beta2 ** st.t, wd: h.weightDecay ?? 0 },
      workgroups: rt.grid(Math.ceil(n / 64)),
    },
  );
}
