// The attention block's core, forward and backward side by side (llm.c-style): for each query head h,
//   P = softmax(scale · q_h K_{kHeadOf[h]}ᵀ + causal/window mask),   a_h = P V_{vHeadOf[h]},
// and its gradients dq, dK, dV from da. The K/V head maps are data (MHA, GQA and DHA's decoupled maps alike). One place
// chooses the path: flash-style (no [B, heads, T, T] buffer; GPUs, head dims divisible by 4) or through the probabilities
// (CPU fallbacks, where barriers are expensive). The forward pass (src/eval/forward.ts), end-to-end backward
// (src/train/backward.ts), DHA's layer-local trainer (src/fusion/layerTrainer.ts) and the attention-map view all call these.
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import { attention, type AttentionVariant } from '../gpu/kernels/transformer';
import {
  attentionBackwardFlash,
  attentionContext,
  attentionKeysGrad,
  attentionProbs,
  attentionQueriesGrad,
  attentionScoresGrad,
  attentionValuesGrad,
  flashBackwardFor,
  flashGradScratch,
  type AttnGradShape,
} from '../gpu/kernels/training';

export type { AttnGradShape };

/** Whether training runs attention flash-style on this adapter: GPUs, head dims divisible by 4. */
export function trainsFlash(rt: GpuRuntime, headDim: number): boolean {
  return flashBackwardFor(rt, headDim);
}

/** The scratch attentionBackward needs for a shape, by name and number of values (and the probabilities path's P). */
export function attentionScratch(s: AttnGradShape, flash: boolean): Record<string, number> {
  return flash ? flashGradScratch(s) : { P: s.B * s.heads * s.T * s.T, dS: s.B * s.heads * s.T * s.T };
}

export interface AttentionInputs {
  /** Queries [B, T, heads, dh] (after rotary). */
  q: GpuTensor;
  /** Keys and values [B, cacheT, kHeads|vHeads, dh] (keys after rotary). */
  k: GpuTensor;
  v: GpuTensor;
  /** kHeadOf then vHeadOf, one u32 per query head each. */
  maps: GpuTensor;
}

/**
 * a [B, T, heads, dh] for positions pos0 … pos0+T−1 over keys 0 … pos0+T−1. With `probs` (the probabilities path of a
 * training forward: whole sequences, pos0 = 0, cacheT = T) P [B, heads, T, T] is written there and kept for the backward;
 * otherwise one attention kernel runs (`variant`: the adapter's choice unless given).
 */
export async function attentionForward(
  rt: GpuRuntime,
  x: AttentionInputs,
  a: GpuTensor,
  s: AttnGradShape & { pos0: number; cacheT: number },
  opts: { probs?: GpuTensor; variant?: AttentionVariant } = {},
): Promise<void> {
  if (opts.probs) {
    if (s.pos0 !== 0 || s.cacheT !== s.T) throw new RangeError('attention: the probabilities path runs whole sequences from position 0');
    await attentionProbs(rt, x.q, x.k, x.maps, opts.probs, s);
    await attentionContext(rt, opts.probs, x.v, x.maps, a, s);
    return;
  }
  const shape = {
    B: s.B,
    T: s.T,
    pos0: s.pos0,
    heads: s.heads,
    kHeads: s.kHeads,
    vHeads: s.vHeads,
    headDim: s.dh,
    cacheT: s.cacheT,
    window: s.window,
    scale: s.scale,
  };
  await attention(rt, x.q, x.k, x.v, x.maps, a, shape, opts.variant);
}

/**
 * The backward of attentionForward over whole sequences: dq, dK and dV (overwritten) from the forward's a and its gradient
 * dA. dq may be null where it is not needed (the probabilities path then skips it; the flash path always computes it).
 * `scratch` holds attentionScratch(s, flash); on the probabilities path `probsKept` says P already holds this forward's
 * probabilities (the layer trainer keeps them), otherwise they are recomputed from q and K (no T × T buffer is kept).
 */
export async function attentionBackward(
  rt: GpuRuntime,
  x: AttentionInputs & { a: GpuTensor; dA: GpuTensor },
  grads: { dq: GpuTensor | null; dk: GpuTensor; dv: GpuTensor },
  scratch: Record<string, GpuTensor>,
  s: AttnGradShape,
  flash: boolean,
  probsKept = false,
): Promise<void> {
  if (flash) {
    if (!grads.dq) throw new Error('attention backward: the flash path computes dq; give it a tensor');
    await attentionBackwardFlash(
      rt,
      { q: x.q, k: x.k, v: x.v, a: x.a, dA: x.dA, maps: x.maps },
      { dq: grads.dq, dk: grads.dk, dv: grads.dv },
      { lse: scratch.lse, dKh: scratch.dKh, dVh: scratch.dVh },
      s,
    );
    return;
  }
  if (!probsKept) await attentionProbs(rt, x.q, x.k, x.maps, scratch.P, s);
  await attentionScoresGrad(rt, scratch.P, x.dA, x.v, x.maps, scratch.dS, s);
  if (grads.dq) await attentionQueriesGrad(rt, scratch.dS, x.k, x.maps, grads.dq, s);
  await attentionKeysGrad(rt, scratch.dS, x.q, x.maps, grads.dk, s);
  await attentionValuesGrad(rt, scratch.P, x.dA, x.maps, grads.dv, s);
}

/** The probabilities P [B, heads, T, T] of a forward's queries and keys (whole sequences): the attention-map view. */
export async function attentionProbabilities(rt: GpuRuntime, x: Pick<AttentionInputs, 'q' | 'k' | 'maps'>, P: GpuTensor, s: AttnGradShape): Promise<void> {
  await attentionProbs(rt, x.q, x.k, x.maps, P, s);
}
