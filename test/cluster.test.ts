// Head order by average-linkage clustering: a permutation, alike heads contiguous, the average-linkage heights.
import { describe, expect, it } from 'vitest';
import { averageLinkage, clusterOrder, permute } from '../src/analysis/cluster';
import { randomArray } from '../src/reference/linalg';

/** A symmetric similarity matrix of n heads in the given blocks: ~0.9 within a block, ~0.1 across, 1 on the diagonal. */
function blockMatrix(blockOf: number[], seed: number): number[][] {
  const n = blockOf.length;
  const noise = randomArray(n * n, seed, -0.05, 0.05);
  const s = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      const v = i === j ? 1 : (blockOf[i] === blockOf[j] ? 0.9 : 0.1) + noise[i * n + j];
      s[i][j] = s[j][i] = v;
    }
  return s;
}

const isPermutation = (order: number[], n: number) => order.length === n && [...order].sort((a, b) => a - b).every((v, i) => v === i);

describe('clusterOrder', () => {
  it('puts the heads of each block next to each other, for blocks scattered over the head indices', () => {
    for (let seed = 1; seed <= 20; seed++) {
      // 12 heads in 3 blocks of different sizes, assigned to indices by a seeded shuffle
      const labels = [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2];
      const r = randomArray(labels.length, 100 + seed);
      const blockOf = labels
        .map((l, i) => ({ l, r: r[i] }))
        .sort((a, b) => a.r - b.r)
        .map((x) => x.l);
      const order = clusterOrder(blockMatrix(blockOf, seed));
      expect(isPermutation(order, 12), `seed ${seed}: ${order}`).toBe(true);
      const seq = order.map((h) => blockOf[h]);
      const runs = seq.filter((b, i) => i === 0 || b !== seq[i - 1]);
      expect(runs, `seed ${seed}: blocks in order ${seq.join('')}`).toHaveLength(3);
      expect(new Set(runs).size).toBe(3);
    }
  });

  it('the permuted matrix has its blocks on the diagonal', () => {
    const blockOf = [0, 1, 0, 1, 0, 1];
    const order = clusterOrder(blockMatrix(blockOf, 7));
    expect(order).toEqual([0, 2, 4, 1, 3, 5]);
    const p = permute(blockMatrix(blockOf, 7), order);
    expect(p[0][1]).toBeGreaterThan(0.8);
    expect(p[0][3]).toBeLessThan(0.2);
    expect(p[3][4]).toBeGreaterThan(0.8);
  });

  it('keeps the original order when all heads are equally alike, and handles 0, 1 and 2 heads', () => {
    const flat = Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, j) => (i === j ? 1 : 0.3)));
    expect(clusterOrder(flat)).toEqual([0, 1, 2, 3, 4]);
    expect(clusterOrder([])).toEqual([]);
    expect(clusterOrder([[1]])).toEqual([0]);
    expect(
      clusterOrder([
        [1, 0.2],
        [0.2, 1],
      ]),
    ).toEqual([0, 1]);
  });

  it('rejects a matrix that is not square or not finite', () => {
    expect(() => clusterOrder([[1, 0], [0]])).toThrow(/row 1/);
    expect(() =>
      clusterOrder([
        [1, NaN],
        [NaN, 1],
      ]),
    ).toThrow(/NaN/);
  });
});

describe('averageLinkage', () => {
  it('merges at the average distance between the clusters, not the nearest pair (single) or farthest (complete)', () => {
    // heads 0 and 1 alike (d = 0.1); head 2 at d = 0.3 from head 0 and d = 0.7 from head 1; head 3 far from all
    const d = [
      [0, 0.1, 0.3, 0.95],
      [0.1, 0, 0.7, 0.9],
      [0.3, 0.7, 0, 0.85],
      [0.95, 0.9, 0.85, 0],
    ];
    const merges = averageLinkage(d.map((r) => r.map((v) => 1 - v)));
    expect(merges).toHaveLength(3);
    expect(merges[0]).toMatchObject({ a: [0], b: [1] });
    expect(merges[0].height).toBeCloseTo(0.1, 12);
    expect(merges[1]).toMatchObject({ a: [0, 1], b: [2] });
    expect(merges[1].height).toBeCloseTo((0.3 + 0.7) / 2, 12); // single linkage would say 0.3, complete 0.7
    expect(merges[2].a).toEqual([0, 1, 2]);
    expect(merges[2].height).toBeCloseTo((0.95 + 0.9 + 0.85) / 3, 12);
  });

  it('symmetrises an asymmetric matrix', () => {
    const s = [
      [1, 0.9, 0.1],
      [0.5, 1, 0.1],
      [0.1, 0.1, 1],
    ];
    expect(averageLinkage(s)[0].height).toBeCloseTo(1 - 0.7, 12);
  });
});
