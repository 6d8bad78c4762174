// The CPU references themselves, against values known independently.
import { describe, expect, it } from 'vitest';
import { erf, erfcNonNeg, geluErf, matmulRef, relativeError, softmaxRowsRef } from '../src/reference/linalg';

describe('reference maths', () => {
  it('erf matches tabulated values', () => {
    // Abramowitz & Stegun table 7.1 / mpmath
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 14);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 14);
    expect(erf(3)).toBeCloseTo(0.9999779095030014, 14);
    expect(erfcNonNeg(4)).toBeCloseTo(1.541725790028002e-8, 20);
    expect(erfcNonNeg(1)).toBeCloseTo(0.15729920705028513, 14);
  });

  it('GELU(erf) keeps relative precision for negative inputs', () => {
    // 0.5·x·erfc(−x/√2) at x = −8: erfc(5.656854…) = 1.2442147473e-15 (mpmath)
    expect(geluErf(-8) / (0.5 * -8 * 1.244192114854357e-15)).toBeCloseTo(1, 8);
  });

  it('matmul of a known product', () => {
    const out = matmulRef([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], { M: 2, N: 2, K: 3 });
    expect([...out]).toEqual([58, 64, 139, 154]);
  });

  it('softmax rows sum to one', () => {
    const out = softmaxRowsRef([1, 2, 3, -1, 0, 1], 2, 3);
    expect(out[0] + out[1] + out[2]).toBeCloseTo(1, 15);
    expect(relativeError(out, [0.09003057, 0.24472847, 0.66524096, 0.09003057, 0.24472847, 0.66524096])).toBeLessThan(1e-7);
  });
});
