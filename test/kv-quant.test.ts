// The KV-cache quantiser: the WGSL kernels (pack, then unpack into a poisoned tensor) against the float64 reference on awkward
// sizes — partial groups, ranges that start past 0, the sink, tiny (f16-subnormal) and constant groups — and the host rule.
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu } from './gpu-context';
import type { GpuRuntime } from '../src/gpu/runtime';
import { kvDequantise, kvQuantise } from '../src/gpu/kernels/kvQuant';
import { quantiseRef, f16Round } from '../src/reference/kvQuant';
import { randomArray } from '../src/reference/linalg';
import {
  KV_QUANT_DEFAULTS,
  kvCacheSize,
  kvQuantFrom,
  packedLayout,
  quantisedBitsPerPosition,
  quantisedChunk,
  quantisedPrefix,
  type KeyAxis,
  type KvBits,
  type KvQuant,
} from '../src/eval/kvQuant';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});

/** Values with some structure: channel offsets (key outliers live in channels), a constant channel, a tiny channel. */
function cacheValues(B: number, T: number, W: number, seed: number): Float32Array {
  const x = Float32Array.from(randomArray(B * T * W, seed, -2, 2));
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * W;
      x[o] = 0.75; // a constant channel: scale 0
      if (W > 2) x[o + 1] = Math.fround(x[o + 1] * 1e-6); // a channel of f16-subnormal steps
      if (W > 3) x[o + 2] = Math.fround(x[o + 2] * 300 + 1000); // an outlier channel
    }
  return x;
}

async function roundTrip(x: Float32Array, s: { B: number; T: number; W: number; from: number; to: number; axis: KeyAxis; q: KvQuant }) {
  const layout = packedLayout(s.q, s.axis, s.W, s.B, s.T);
  const xt = await rt.tensor('x', x);
  const codes = await rt.tensor('codes', new Uint32Array(layout.codeWords).fill(0xffffffff));
  const params = await rt.tensor('params', new Uint32Array(layout.paramWords).fill(0xffffffff));
  const range = { B: s.B, cacheT: s.T, from: s.from, to: s.to };
  await kvQuantise(rt, xt, { codes, params }, layout, s.q, range);
  // dequantise into a copy whose quantised positions are poisoned: every one of them must be written back
  const y = Float32Array.from(x);
  for (let b = 0; b < s.B; b++) for (let t = s.from; t < s.to; t++) if (!(s.q.keepSink && t === 0)) y.fill(NaN, (b * s.T + t) * s.W, (b * s.T + t + 1) * s.W);
  const yt = await rt.tensor('y', y);
  await kvDequantise(rt, yt, { codes, params }, layout, s.q, range);
  const got = await rt.read(yt);
  const ref = quantiseRef(x, { B: s.B, cacheT: s.T, width: s.W, from: s.from, to: s.to, axis: s.axis, ...s.q });
  for (const t of [xt, codes, params, yt]) rt.release(t);
  return { got, ref };
}

describe('kv quantise → dequantise against the float64 reference', () => {
  const cases: [KeyAxis, KvBits, number, number, number, number, number, number, boolean][] = [
    // axis, bits, B, T, W, G, from, to, sink
    ['channel', 8, 2, 37, 13, 5, 0, 37, false],
    ['channel', 4, 1, 64, 24, 32, 32, 64, true],
    ['channel', 3, 2, 40, 7, 8, 0, 16, true],
    ['channel', 2, 3, 33, 16, 32, 0, 33, false],
    ['token', 8, 2, 19, 13, 5, 3, 19, false],
    ['token', 4, 1, 9, 70, 32, 0, 9, true],
    ['token', 3, 2, 5, 11, 4, 0, 5, false],
    ['token', 2, 1, 6, 40, 16, 1, 4, false],
  ];
  it.each(cases)('%s, %i bits, B %i, T %i, W %i, G %i, positions %i … %i, sink %s', async (axis, bits, B, T, W, G, from, to, sink) => {
    const q: KvQuant = { ...KV_QUANT_DEFAULTS, bits, group: G, keepSink: sink };
    const x = cacheValues(B, T, W, bits * 100 + W);
    const { got, ref } = await roundTrip(x, { B, T, W, from, to, axis, q });
    // f32 division against float64 may round a code the other way at an exact half: allow one step on a few values
    let off = 0;
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs(got[i] - ref[i]);
      if (Number.isNaN(got[i])) throw new Error(`value ${i} was never written back`);
      if (d <= 1e-6 * (1 + Math.abs(ref[i]))) continue;
      off++;
      const c = Math.floor(i / W) % T;
      expect(c, `value ${i} differs outside the quantised positions`).toBeGreaterThanOrEqual(from);
      expect(d, `value ${i}: more than one quantisation step`).toBeLessThan((1300 / (2 ** bits - 1)) * 1.01);
    }
    expect(off).toBeLessThanOrEqual(Math.ceil(got.length * 0.002));
    // and the quantisation did something: outside the sink, quantised values moved off the original
    let moved = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== x[i]) moved++;
    expect(moved).toBeGreaterThan(0);
    if (sink && from === 0) for (let b = 0; b < B; b++) for (let c = 0; c < W; c++) expect(got[b * T * W + c]).toBe(x[b * T * W + c]);
  });

  it('an empty range writes nothing; per-channel ranges must be whole groups', async () => {
    const q: KvQuant = { ...KV_QUANT_DEFAULTS, bits: 4, group: 8 };
    const x = cacheValues(1, 16, 4, 3);
    const { got } = await roundTrip(x, { B: 1, T: 16, W: 4, from: 8, to: 8, axis: 'channel', q });
    expect(Array.from(got)).toEqual(Array.from(x));
    const layout = packedLayout(q, 'channel', 4, 1, 16);
    const t = await rt.tensor('x', x);
    const codes = await rt.tensor('codes', layout.codeWords);
    const params = await rt.tensor('params', layout.paramWords);
    await expect(kvQuantise(rt, t, { codes, params }, layout, q, { B: 1, cacheT: 16, from: 3, to: 8 })).rejects.toThrow(/whole groups of 8/);
  });
});

describe('the schedule and the bytes', () => {
  it('keeps the last R positions and the filling group exact', () => {
    const q = { group: 4, residual: 6 };
    expect(quantisedPrefix(4, q)).toBe(0); // 4 − 6 + 1 < 0
    expect(quantisedPrefix(8, q)).toBe(0); // s ≤ 2: the group 0 … 3 is not whole yet
    expect(quantisedPrefix(9, q)).toBe(4); // s ≤ 3
    expect(quantisedPrefix(13, q)).toBe(8);
    expect(quantisedPrefix(5, { group: 4, residual: 0 })).toBe(4);
    // a call never straddles a flush
    for (let p0 = 0; p0 < 40; p0++) {
      const n = quantisedChunk(p0, 100, q);
      for (let t = p0; t < p0 + n; t++) expect(quantisedPrefix(t, q)).toBe(quantisedPrefix(p0, q));
      expect(quantisedPrefix(p0 + n, q)).not.toBe(quantisedPrefix(p0, q));
    }
  });

  it('counts codes in whole words plus two 16-bit numbers per group', () => {
    const q = { bits: 4 as KvBits, group: 32 };
    // 4 bits: 8 codes a word, 4 words per group of 32, + 32 bits: 160 bits per 32 values = 5 bits a value
    expect(quantisedBitsPerPosition(q, 64, 'channel')).toBe(64 * 5);
    expect(quantisedBitsPerPosition(q, 64, 'token')).toBe(64 * 5);
    // 3 bits: 10 codes a word; a channel group of 32 takes 4 words; a token row of 40 is 32 + 8 channels
    expect(quantisedBitsPerPosition({ bits: 3, group: 32 }, 40, 'token')).toBe(4 * 32 + 32 + 1 * 32 + 32);
    const layers = [{ kHeads: 2, vHeads: 2 }];
    const full = kvCacheSize(8, layers, null, 256);
    expect(full.bytesPerToken).toBe(2 * 2 * 8 * 2); // 16-bit K and V
    const q4 = kvQuantFrom({ bits: 4, group: 32, residual: 32 });
    const s = kvCacheSize(8, layers, q4, 256);
    // 256 positions: the last query quantises 0 … 223 (whole groups ≥ 32 back), keeps 32 exact. Per quantised position:
    // K per channel, 16 channels × (4 words + 1) / 32 positions = 80 bits; V per token, one group of 16: 2 words + 1 = 96 bits
    expect(s.quantised).toBe(224);
    expect(s.bytes).toBe((224 * (80 + 96) + 32 * 32 * 16) / 8);
    expect(kvCacheSize(8, layers, { ...q4, keepSink: true }, 256).exact).toBe(33);
  });

  it('names a bad choice', () => {
    expect(() => kvQuantFrom({ bits: 5 })).toThrow(/16, 8, 4, 3, 2/);
    expect(() => kvQuantFrom({ group: 1 })).toThrow(/group/);
    expect(() => kvQuantFrom({ keyAxis: 'head' })).toThrow(/channel/);
    expect(f16Round(1e6)).toBe(65504);
  });
});
