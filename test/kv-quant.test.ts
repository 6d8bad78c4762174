// The KV-cache quantiser: the WGSL kernels (pack, then unpack into a poisoned tensor) against the float64 reference on awkward
// sizes — partial groups, ranges that start past 0, the sink, tiny (f16-subnormal) and constant groups — and the host rule.
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu } from './gpu-context';
import type { GpuRuntime } from '../src/gpu/runtime';
import { kvDequantise, kvQuantise } from '../src/gpu/kernels/kvQuant';
import { quantiseRef, f16Round } from '../src/reference/kvQuant';
import { randomArray, relativeError } from '../src/reference/linalg';
import { forwardRef } from '../src/reference/transformer';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import type { Model } from '../src/model/types';
import { GpuModel } from '../src/eval/gpuModel';
import { ForwardPass } from '../src/eval/forward';
import { mlaConvert } from '../src/fusion/mla';
import { layerKvShapes } from '../src/model/latent';
import { seededRandom } from '../src/random';
import { testdata } from './testdata';
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
} from '../src/model/kvQuant';

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

async function fromPath(p: string): Promise<Model> {
  const { files, primary } = await filesFromPath(testdata(p));
  return (await loadModelFiles(files, { primary })).model;
}

function tokens(model: Model, n: number, seed: number): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(r() * model.config.vocab));
}

/** Logits of B sequences run through the GPU forward in calls that never straddle a flush of the quantised cache. */
async function quantisedLogits(model: Model, seqs: number[][], q: KvQuant | null, chunk = 64): Promise<Float32Array[]> {
  const gm = await GpuModel.upload(rt, model);
  const T = seqs[0].length;
  const B = seqs.length;
  const fp = await ForwardPass.create(gm, { batch: B, chunk, cacheT: T, kvQuant: q });
  const V = model.config.vocab;
  const out = seqs.map(() => new Float32Array(T * V));
  try {
    for (let p0 = 0, n = 0; p0 < T; p0 += n) {
      n = q ? quantisedChunk(p0, Math.min(chunk, T - p0), q) : Math.min(chunk, T - p0);
      const ids = new Uint32Array(B * n);
      seqs.forEach((s, b) => ids.set(s.slice(p0, p0 + n), b * n));
      rt.fill(fp.logits, NaN);
      await fp.run(ids, n, p0);
      const l = await fp.readLogits();
      seqs.forEach((_, b) => out[b].set(l.subarray(b * n * V, (b + 1) * n * V), p0 * V));
    }
  } finally {
    fp.release();
    gm.release();
  }
  return out;
}

describe('the forward pass reads the cache as a quantised cache holds it', () => {
  const base = { ...KV_QUANT_DEFAULTS, group: 4, residual: 3 };
  const cases: [string, string, Partial<KvQuant>][] = [
    ['llama-mha, 4 bits, keys per channel after rotary', 'fixtures/hf/llama-mha', { bits: 4 }],
    ['llama-mha, 3 bits, keys per token before rotary, sink', 'fixtures/hf/llama-mha', { bits: 3, keyRope: 'pre', keyAxis: 'token', keepSink: true }],
    ['llama-mha, 8 bits, no residual, keys before rotary', 'fixtures/hf/llama-mha', { bits: 8, residual: 0, keyRope: 'pre' }],
    ['gpt2 (learned positions), 4 bits, sink', 'fixtures/hf/gpt2', { bits: 4, keepSink: true }],
  ];
  it.each(cases)('%s: GPU = float64 reference, and not the exact cache', async (_name, path, choice) => {
    const model = await fromPath(path);
    const q: KvQuant = { ...base, ...choice };
    const seqs = [tokens(model, 23, 1), tokens(model, 23, 2)];
    const got = await quantisedLogits(model, seqs, q, 7);
    for (const [b, s] of seqs.entries()) {
      const ref = forwardRef(model, s, undefined, q);
      const exact = forwardRef(model, s);
      expect(relativeError(got[b], ref), `sequence ${b}`).toBeLessThan(2e-4);
      expect(relativeError(exact, ref), 'the quantised cache changed nothing').toBeGreaterThan(1e-3);
    }
  });

  it('a latent model: its latent and rotary key dims quantised', async () => {
    const model = await fromPath('fixtures/hf/llama-mha');
    const seqs = [tokens(model, 21, 3)];
    const { model: mla } = await mlaConvert(model, null, { budget: 0.5, ropePairs: 1, ropeSelect: 'uniform', latentInit: 'weights' });
    const q: KvQuant = { ...base, bits: 4, keyAxis: 'channel' };
    const got = await quantisedLogits(mla, seqs, q, 5);
    expect(relativeError(got[0], forwardRef(mla, seqs[0], undefined, q))).toBeLessThan(2e-4);
    expect(relativeError(forwardRef(mla, seqs[0]), forwardRef(mla, seqs[0], undefined, q))).toBeGreaterThan(1e-3);
  });

  it('16 bits, or a window of exact positions as long as the text (R ≥ T), is the plain cache to the last bit; a call across a flush is refused', async () => {
    const model = await fromPath('fixtures/hf/llama-mha');
    const seqs = [tokens(model, 19, 4)];
    const plain = await quantisedLogits(model, seqs, null, 19);
    const sixteen = await quantisedLogits(model, seqs, { ...base, bits: 16 }, 19);
    expect(Array.from(sixteen[0])).toEqual(Array.from(plain[0]));
    // a window of exact positions at least as long as the sequence: nothing is ever quantised
    const window = await quantisedLogits(model, seqs, { ...base, bits: 2, residual: 19 }, 19);
    expect(Array.from(window[0])).toEqual(Array.from(plain[0]));
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: 1, chunk: 19, cacheT: 19, kvQuant: { ...base, bits: 4 } });
    await expect(fp.run(Uint32Array.from(seqs[0]), 19, 0)).rejects.toThrow(/straddle a flush/);
    fp.release();
    gm.release();
    // the memory plan counts the packed cache and the unrotated keys as allocated
    for (const m of [model, (await mlaConvert(model, null, { budget: 0.5, ropePairs: 1, ropeSelect: 'uniform', latentInit: 'weights' })).model]) {
      for (const keyRope of ['pre', 'post'] as const) {
        const shape = { batch: 2, chunk: 5, cacheT: 37, kvQuant: { ...base, bits: 3 as const, keyRope } };
        const g = await GpuModel.upload(rt, m);
        const f = await ForwardPass.create(g, shape);
        expect(f.bytes).toBe(ForwardPass.bytesFor(m.config, layerKvShapes(m), shape));
        f.release();
        g.release();
      }
    }
  });
});
