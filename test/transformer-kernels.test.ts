// The transformer kernels against their float64 CPU references on awkward sizes, outputs poisoned with NaN first.
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu, poisoned as poisonedTensor } from './gpu-context';
import type { GpuRuntime, GpuTensor } from '../src/gpu/runtime';
import { attention, embed, nllRows, norm, rope, NO_TARGET, type AttentionVariant, type RowVariant } from '../src/gpu/kernels/transformer';
import { accumulate, binary } from '../src/gpu/kernels/elementwise';
import { attentionRef, normRef, ropeRef } from '../src/reference/transformer';
import { binaryRef, randomArray, relativeError } from '../src/reference/linalg';
import { rotaryTables, roundBf16, roundF16 } from '../src/model/rotary';

const TOL = 1e-5;
const VARIANTS: RowVariant[] = ['workgroup', 'rows'];
let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});

const poisoned = (label: string, n: number): Promise<GpuTensor> => poisonedTensor(rt, label, n);

function randomIds(n: number, vocab: number, seed: number): Uint32Array {
  return Uint32Array.from(randomArray(n, seed, 0, vocab), (v) => Math.min(vocab - 1, Math.floor(v)));
}

describe('embed', () => {
  it.each([
    [7, 33, 13, true, 3],
    [1, 1, 1, false, 0],
    [70, 130, 50, true, 0],
  ] as const)('rows %i, dim %i, vocab %i, learned %s, pos0 %i', async (rows, dim, vocab, learned, pos0) => {
    const T = rows > 7 ? 35 : rows;
    const ids = randomIds(rows, vocab, rows);
    const E = randomArray(vocab * dim, 1);
    const P = randomArray((pos0 + T) * dim, 2);
    const out = await poisoned('x', rows * dim);
    await embed(rt, await rt.tensor('ids', ids), await rt.tensor('E', E), learned ? await rt.tensor('P', P) : null, out, { rows, dim, T, pos0 });
    const ref = new Float64Array(rows * dim);
    for (let r = 0; r < rows; r++) for (let c = 0; c < dim; c++) ref[r * dim + c] = E[ids[r] * dim + c] + (learned ? P[(pos0 + (r % T)) * dim + c] : 0);
    expect(relativeError(await rt.read(out), ref)).toBeLessThan(TOL);
  });
});

describe.each(VARIANTS)('norm (%s)', (variant) => {
  for (const kind of ['rmsnorm', 'layernorm'] as const) {
    it.each([
      [1, 1],
      [7, 130],
      [33, 7],
      [3, 1000],
    ])(`${kind} %i×%i`, async (rows, dim) => {
      const x = randomArray(rows * dim, rows + dim, -3, 5);
      const w = randomArray(dim, 7);
      const b = randomArray(dim, 8);
      const y = await poisoned('y', rows * dim);
      await norm(rt, kind, await rt.tensor('x', x), await rt.tensor('w', w), await rt.tensor('b', b), y, { rows, dim, eps: 1e-5 }, variant);
      expect(relativeError(await rt.read(y), normRef(kind, x, w, b, rows, dim, 1e-5))).toBeLessThan(TOL);
    });
  }
});

describe('rope', () => {
  for (const style of ['interleaved', 'half'] as const) {
    it.each([
      [2, 5, 3, 10, 4, 3, 9, 3],
      [1, 7, 2, 16, 16, 0, 7, 0],
      [2, 3, 1, 8, 0, 2, 6, 2],
      [1, 33, 3, 18, 18, 100, 33, 0],
    ])(`${style}: B %i T %i heads %i headDim %i rotDims %i pos0 %i yT %i dstPos0 %i`, async (B, T, heads, headDim, rotDims, pos0, yT, dstPos0) => {
      const width = heads * headDim;
      const x = randomArray(B * T * width, T + heads);
      const tables = rotaryTables(pos0 + T, Math.max(rotDims, 2), 10000);
      const y = await poisoned('y', B * yT * width);
      await rope(rt, await rt.tensor('x', x), await rt.tensor('cos', tables.cos), await rt.tensor('sin', tables.sin), y, {
        B,
        T,
        heads,
        headDim,
        rotDims,
        pos0,
        yT,
        dstPos0,
        style,
      });
      const out = await rt.read(y);
      const ref = ropeRef(x, B * T, heads, headDim, rotDims, style, (r) => pos0 + (r % T), tables.cos, tables.sin);
      const got = new Float64Array(B * T * width);
      for (let b = 0; b < B; b++) got.set(out.subarray((b * yT + dstPos0) * width, (b * yT + dstPos0 + T) * width), b * T * width);
      expect(relativeError(got, ref)).toBeLessThan(TOL);
      // The inverse (training's backward) rotates by −angle.
      const back = await poisoned('back', B * T * width);
      await rope(rt, await rt.tensor('x', x), await rt.tensor('cos', tables.cos), await rt.tensor('sin', tables.sin), back, {
        B,
        T,
        heads,
        headDim,
        rotDims,
        pos0,
        yT: T,
        dstPos0: 0,
        style,
        inverse: true,
      });
      const negSin = tables.sin.map((v) => -v);
      expect(
        relativeError(
          await rt.read(back),
          ropeRef(x, B * T, heads, headDim, rotDims, style, (r) => pos0 + (r % T), tables.cos, negSin),
        ),
      ).toBeLessThan(TOL);
    });
  }

  it('rounds inverse frequencies to BF16 and F16 as torch does', () => {
    expect(roundBf16(1)).toBe(1);
    expect(roundBf16(0.1)).toBe(0.10009765625); // bf16(0.1)
    expect(roundF16(0.1)).toBe(0.0999755859375); // f16(0.1)
    expect(roundF16(1 / 3)).toBe(0.333251953125);
  });
});

const ATTENTION_VARIANTS: AttentionVariant[] = [...VARIANTS, 'flash'];

describe.each(ATTENTION_VARIANTS)('attention through head maps (%s)', (variant) => {
  it.each([
    // B, T, pos0, cacheT, heads, kHeads, vHeads, headDim, window, kMap, vMap
    [2, 5, 3, 9, 4, 2, 3, 70, 0, [0, 1, 1, 0], [2, 0, 1, 2]],
    [1, 130, 0, 130, 2, 2, 2, 7, 0, [0, 1], [0, 1]],
    [2, 9, 0, 9, 3, 1, 1, 16, 4, [0, 0, 0], [0, 0, 0]],
    [1, 1, 140, 141, 4, 2, 2, 8, 0, [0, 0, 1, 1], [0, 0, 1, 1]],
    [1, 3, 5, 8, 1, 1, 1, 256, 3, [0], [0]],
    // head dims CPU fallbacks run in vec4 registers (rows16): 12 and 4
    [1, 17, 2, 19, 3, 3, 3, 12, 0, [0, 1, 2], [2, 1, 0]],
    [2, 6, 0, 6, 2, 1, 2, 4, 2, [0, 0], [1, 0]],
    // several query blocks and key tiles of the flash kernel (64 queries; 32 keys at dh 64, 8 at 256, 64 at 20), DHA-like maps
    [1, 130, 0, 130, 4, 2, 3, 64, 0, [1, 0, 0, 1], [2, 2, 0, 1]],
    [2, 67, 60, 140, 2, 1, 2, 256, 0, [0, 0], [1, 0]],
    [1, 100, 3, 103, 3, 2, 2, 20, 37, [0, 1, 1], [1, 1, 0]],
  ] as const)('B %i T %i pos0 %i cacheT %i heads %i K %i V %i dh %i window %i', async (B, T, pos0, cacheT, heads, kHeads, vHeads, dh, window, kMap, vMap) => {
    if (variant === 'flash' && dh % 4 !== 0) {
      await expect(
        attention(
          rt,
          await poisoned('q', 1),
          await poisoned('k', 1),
          await poisoned('v', 1),
          await rt.tensor('m', new Uint32Array(2)),
          await poisoned('o', 1),
          { B, T, pos0, heads, kHeads, vHeads, headDim: dh, cacheT, window, scale: 1 },
          variant,
        ),
      ).rejects.toThrow(/divisible by 4; got 7/);
      return;
    }
    const q = randomArray(B * T * heads * dh, 1, -1, 1);
    const kc = new Float32Array(B * cacheT * kHeads * dh).fill(NaN);
    const vc = new Float32Array(B * cacheT * vHeads * dh).fill(NaN);
    // fill positions 0 … pos0+T−1; the rest stays NaN and must never be read
    const k = randomArray(B * (pos0 + T) * kHeads * dh, 2);
    const v = randomArray(B * (pos0 + T) * vHeads * dh, 3);
    for (let b = 0; b < B; b++) {
      kc.set(k.subarray(b * (pos0 + T) * kHeads * dh, (b + 1) * (pos0 + T) * kHeads * dh), b * cacheT * kHeads * dh);
      vc.set(v.subarray(b * (pos0 + T) * vHeads * dh, (b + 1) * (pos0 + T) * vHeads * dh), b * cacheT * vHeads * dh);
    }
    const out = await poisoned('out', B * T * heads * dh);
    const scale = 1 / Math.sqrt(dh);
    const shape = { T, pos0, heads, kHeads, vHeads, headDim: dh, window, scale };
    await attention(
      rt,
      await rt.tensor('q', q),
      await rt.tensor('kc', kc),
      await rt.tensor('vc', vc),
      await rt.tensor('maps', Uint32Array.from([...kMap, ...vMap])),
      out,
      { ...shape, B, cacheT },
      variant,
    );
    const got = await rt.read(out);
    for (let b = 0; b < B; b++) {
      const ref = attentionRef(
        q.subarray(b * T * heads * dh, (b + 1) * T * heads * dh),
        k.subarray(b * (pos0 + T) * kHeads * dh),
        v.subarray(b * (pos0 + T) * vHeads * dh),
        shape,
        [...kMap],
        [...vMap],
      );
      expect(relativeError(got.subarray(b * T * heads * dh, (b + 1) * T * heads * dh), ref)).toBeLessThan(TOL);
    }
  });
});

describe.each(VARIANTS)('nll and argmax (%s)', (variant) => {
  it.each([
    [7, 1000],
    [1, 1],
    [33, 259],
  ])('%i rows × vocab %i', async (rows, vocab) => {
    const logits = randomArray(rows * vocab, rows, -20, 20);
    const targets = randomIds(rows, vocab, 5);
    if (rows > 2) targets[1] = NO_TARGET;
    const nll = await poisoned('nll', rows);
    const argmax = await rt.tensor('argmax', new Uint32Array(rows).fill(12345));
    await nllRows(rt, await rt.tensor('logits', logits), await rt.tensor('targets', targets), nll, argmax, { rows, vocab }, variant);
    const ref = new Float64Array(rows);
    const refArg: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = Array.from(logits.subarray(r * vocab, (r + 1) * vocab));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      ref[r] = targets[r] === NO_TARGET ? 0 : lse - row[targets[r]];
      refArg.push(row.indexOf(m));
    }
    expect(relativeError(await rt.read(nll), ref)).toBeLessThan(TOL);
    expect([...(await rt.readU32(argmax))]).toEqual(refArg);
  });
});

describe('accumulate and SwiGLU', () => {
  it.each([
    [1, 1],
    [7 * 33, 33],
    [130, 130],
  ])('y += b: %i ∘ %i', async (n, bLen) => {
    const y0 = randomArray(n, 1);
    const b = randomArray(bLen, 2);
    const y = await rt.tensor('y', y0);
    await accumulate(rt, y, await rt.tensor('b', b), n, bLen);
    expect(relativeError(await rt.read(y), binaryRef('add', y0, b, bLen))).toBeLessThan(TOL);
  });

  it.each([1, 33, 70_001])('silu(a)·b over %i values', async (n) => {
    const a = randomArray(n, 3, -12, 12);
    const b = randomArray(n, 4);
    const y = await poisoned('y', n);
    await binary(rt, 'silu_mul', await rt.tensor('a', a), await rt.tensor('b', b), y, n, n);
    expect(relativeError(await rt.read(y), binaryRef('silu_mul', a, b))).toBeLessThan(TOL);
  });
});
