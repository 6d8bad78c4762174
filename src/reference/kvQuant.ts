// The float64 reference of the KV-cache quantiser (src/model/kvQuant.ts has the rule, shaders/kv_quant.wgsl the kernel):
// per group, m = f16(min), s = f16((max − m)/(2^b − 1)), q = clamp(round_half_even((x − m)/s), 0, 2^b − 1), x̂ = m + q·s
// (s = 0: q = 0, x̂ = m). The sink (position 0, with keepSink) is neither quantised nor counted in its group's range.
import type { KeyAxis, KvQuant } from '../model/kvQuant';
import { roundF16 } from '../model/rotary';

export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The nearest f16 value (ties to even, subnormals kept), clamped to ±65504 instead of overflowing: as the kernel stores it. */
export function f16Round(x: number): number {
  return roundF16(Math.min(65504, Math.max(-65504, x)));
}

/** One group's values quantised and dequantised in place (`skip`: index within the group left exact and out of the range). */
function quantiseGroup(x: Float64Array, idx: number[], bits: number, skip = -1): void {
  let lo = Infinity;
  let hi = -Infinity;
  idx.forEach((e, r) => {
    if (r === skip) return;
    lo = Math.min(lo, x[e]);
    hi = Math.max(hi, x[e]);
  });
  if (lo === Infinity) return;
  const L = 2 ** bits - 1;
  const m = f16Round(lo);
  const s = f16Round((hi - m) / L);
  idx.forEach((e, r) => {
    if (r === skip) return;
    const q = s > 0 ? Math.min(L, Math.max(0, roundHalfEven((x[e] - m) / s))) : 0;
    x[e] = m + q * s;
  });
}

/**
 * x [B, cacheT, width] with positions from … to−1 quantised and dequantised along `axis` (per channel: whole groups of G
 * positions, from and to multiples of G or to = cacheT; per token: G channels of one position). Other positions are copied.
 */
export function quantiseRef(
  x: ArrayLike<number>,
  s: { B: number; cacheT: number; width: number; from: number; to: number; axis: KeyAxis } & Pick<KvQuant, 'bits' | 'group' | 'keepSink'>,
): Float64Array {
  const y = Float64Array.from(x as ArrayLike<number>);
  const { B, cacheT: T, width: W, group: G } = s;
  for (let b = 0; b < B; b++) {
    if (s.axis === 'channel') {
      for (let p0 = s.from; p0 < s.to; p0 += G) {
        const n = Math.min(G, T - p0);
        for (let c = 0; c < W; c++) {
          const idx = Array.from({ length: n }, (_, r) => (b * T + p0 + r) * W + c);
          quantiseGroup(y, idx, s.bits, s.keepSink && p0 === 0 ? 0 : -1);
        }
      }
    } else {
      for (let p = s.from; p < s.to; p++) {
        if (s.keepSink && p === 0) continue;
        for (let j = 0; j < W; j += G) {
          const idx = Array.from({ length: Math.min(G, W - j) }, (_, r) => (b * T + p) * W + j + r);
          quantiseGroup(y, idx, s.bits);
        }
      }
    }
  }
  return y;
}
