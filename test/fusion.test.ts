// Fusion methods: function-preserving edits (rotation folding, permutations), mean-pool and aligned merge, the DHA search's
// pieces (partitions, DP), GPA from Grams, and export/load round trips. Logits from the float64 reference forward.
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gpu } from './gpu-context';
import { testdata } from './testdata';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { Model } from '../src/model/types';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { expandToMha } from '../src/model/heads';
import { forwardRef } from '../src/reference/transformer';
import { foldRotations, makeContiguous, mergeHeads, permuteKvHeads, permuteQueryHeads, uniformGqa } from '../src/fusion/edit';
import { alignGroup, equalPartitions, HeadGrams, rotaryPlanes, setPartitions } from '../src/fusion/align';
import { procrustes } from '../src/fusion/procrustes';
import { allocateBudget } from '../src/fusion/methods';
import { convertHeads, meanPool } from '../src/fusion/headSharing';
import { presetRecipe, type HeadRecipe } from '../src/fusion/recipe';
import { exportFusedModel, fitsLlama2c } from '../src/fusion/export';
import { calibrationGrams } from '../src/analysis/calibration';
import { randomArray } from '../src/reference/linalg';
import { seededRandom as mulberry32 } from '../src/random';

let rt: GpuRuntime;
let s260: Model;
let mha: Model;
const IDS = [1, 403, 407, 261, 378, 1524 % 512, 280, 300, 29, 99, 417, 3];

async function load(p: string): Promise<Model> {
  const { files, primary } = await filesFromPath(p);
  return (await loadModelFiles(files, { primary })).model;
}

function relMax(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

/** A random SO(2) rotation per rotary plane (and an orthogonal map on the rest), or any random orthogonal map. */
function randomRotation(dh: number, planes: [number, number][], seed: number, reflectPlane = -1): Float64Array {
  const r = mulberry32(seed);
  if (!planes.length) {
    const A = Float64Array.from({ length: dh * dh }, () => r() - 0.5);
    return procrustes(A, dh);
  }
  const Q = new Float64Array(dh * dh);
  planes.forEach(([a, b], p) => {
    const th = r() * 2 * Math.PI;
    const f = p === reflectPlane ? -1 : 1;
    Q[a * dh + a] = Math.cos(th);
    Q[a * dh + b] = -Math.sin(th);
    Q[b * dh + a] = f * Math.sin(th);
    Q[b * dh + b] = f * Math.cos(th);
  });
  return Q;
}

beforeAll(async () => {
  rt = await gpu();
  s260 = await load(testdata('data/stories260K.bin'));
  mha = await load(testdata('data/tinystories-mha.bin'));
});

describe('function-preserving edits', () => {
  it('folding per-plane K rotations and orthogonal V maps leaves the logits unchanged (GQA model)', () => {
    const ref = forwardRef(s260, IDS);
    const dh = s260.config.headDim;
    const planes = rotaryPlanes(s260);
    let m = s260;
    for (let l = 0; l < m.layers.length; l++) {
      const kv = m.layers[l].kv;
      m = foldRotations(
        m,
        l,
        Array.from({ length: kv.kHeads }, (_, h) => randomRotation(dh, planes, 10 * l + h)),
        Array.from({ length: kv.vHeads }, (_, h) => randomRotation(dh, [], 100 + 10 * l + h)),
      );
    }
    // Weights are stored in float32 after folding: agreement to float32 rounding.
    expect(relMax(forwardRef(m, IDS), ref)).toBeLessThan(1e-6);
    expect(m.layers[1].attn.wk).not.toEqual(s260.layers[1].attn.wk);
  });

  it('a reflection inside one rotary plane changes the logits (the plane convention matters)', () => {
    const ref = forwardRef(s260, IDS);
    const dh = s260.config.headDim;
    const m = foldRotations(s260, 0, [randomRotation(dh, rotaryPlanes(s260), 3, 1), null, null, null], [null, null, null, null]);
    expect(relMax(forwardRef(m, IDS), ref)).toBeGreaterThan(1e-3);
  });

  it('permuting query heads and KV heads, and making groups contiguous, keep the logits', () => {
    const ref = forwardRef(s260, IDS);
    let m = permuteQueryHeads(s260, 1, [7, 0, 3, 5, 1, 6, 2, 4]);
    m = permuteKvHeads(m, 2, [2, 0, 3, 1]);
    expect(relMax(forwardRef(m, IDS), ref)).toBeLessThan(1e-9);
    expect(uniformGqa(m)).toBeNull();
    for (let l = 0; l < m.layers.length; l++) m = makeContiguous(m, l);
    expect(relMax(forwardRef(m, IDS), ref)).toBeLessThan(1e-9);
  });

  it('identical heads mean-pool to themselves: stories260K expanded to MHA and pooled back gives its logits', () => {
    const pooled = meanPool(expandToMha(s260), 0.5);
    expect(pooled.layers.every((l) => l.kv.kHeads === 4 && l.kv.vHeads === 4)).toBe(true);
    expect(uniformGqa(pooled)).toBe(4);
    expect(relMax(forwardRef(pooled, IDS), forwardRef(s260, IDS))).toBeLessThan(1e-9);
  });

  it('mergeHeads refuses a group naming a missing head, and a head in two groups', () => {
    expect(() =>
      mergeHeads(s260, [
        {
          kGroups: [
            [0, 9],
            [1, 2, 3],
          ],
          vGroups: [[0, 1, 2, 3]],
        },
      ]),
    ).toThrow(/head 9 does not exist/);
    expect(() =>
      mergeHeads(s260, [
        {
          kGroups: [
            [0, 1],
            [1, 2, 3],
          ],
          vGroups: [[0, 1, 2, 3]],
        },
      ]),
    ).toThrow(/head 1 is in two groups/);
  });

  it('mean-pool refuses a budget that does not divide the heads, naming the budgets that do', () => {
    expect(() => meanPool(mha, 0.4)).toThrow(
      /equal group sizes need each layer's head count to divide its 8 K heads, but at 40 % layer 1 keeps 3: choose free group sizes or a budget of 12\.5 %, 25 %, 50 %, 100 %/,
    );
  });
});

describe('alignment from Grams', () => {
  it('heads that are rotations of one another align with zero residual; their mean keeps the energy', async () => {
    // Layer 0 of the expanded model: heads 2k and 2k+1 identical; rotate head 1 within planes → still a perfect match.
    const dh = s260.config.headDim;
    const planes = rotaryPlanes(s260);
    let m = expandToMha(s260);
    m = foldRotations(
      m,
      0,
      [null, randomRotation(dh, planes, 5), null, null, null, null, null, null],
      [null, randomRotation(dh, [], 6), null, null, null, null, null, null],
    );
    const grams = await calibrationGrams(rt, m, [IDS, IDS.slice(3)]);
    const kg = await HeadGrams.of(m, 0, 'k', grams[0], rt);
    const vg = await HeadGrams.of(m, 0, 'v', grams[0], rt);
    const k = alignGroup(kg, [0, 1], planes);
    const v = alignGroup(vg, [0, 1], []);
    expect(k.residual / k.energy).toBeLessThan(1e-5);
    expect(v.residual / v.energy).toBeLessThan(1e-5);
    // Heads 0 and 2 are different heads: a real residual.
    expect(alignGroup(kg, [0, 2], planes).residual / alignGroup(kg, [0, 2], planes).energy).toBeGreaterThan(1e-2);
    // A GPA over three members does not do worse than the first fit to head 0.
    const three = alignGroup(vg, [0, 2, 4], []);
    expect(three.residual).toBeLessThanOrEqual(three.energy);
  });

  it('procrustes is the polar factor: Q orthogonal and QᵀB symmetric positive semidefinite, on the Newton and the eigen route', () => {
    const check = (B: Float64Array, n: number) => {
      const Q = procrustes(B, n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let o = 0;
          let h = 0;
          let ht = 0;
          for (let k = 0; k < n; k++) {
            o += Q[k * n + i] * Q[k * n + j];
            h += Q[k * n + i] * B[k * n + j];
            ht += Q[k * n + j] * B[k * n + i];
          }
          expect(Math.abs(o - (i === j ? 1 : 0))).toBeLessThan(1e-10);
          expect(Math.abs(h - ht)).toBeLessThan(1e-9);
          if (i === j) expect(h).toBeGreaterThan(-1e-9);
        }
      // The maximiser of tr(QᵀB) over orthogonal maps beats random orthogonal maps and the identity.
      const tr = (M: Float64Array) => M.reduce((a, v, e) => a + v * B[e], 0);
      const best = tr(Q);
      for (let s = 0; s < 5; s++) expect(tr(randomRotation(n, [], 100 + s))).toBeLessThanOrEqual(best + 1e-12);
    };
    for (const n of [7, 16]) check(Float64Array.from(randomArray(n * n, 11 + n)), n);
    // κ ≈ 1e11: Newton hands over to the eigen route.
    const n = 9;
    const B = Float64Array.from(randomArray(n * n, 12));
    for (let i = 0; i < n; i++) B[i * n + 8] = B[i * n + 7] * (1 + 1e-11);
    check(B, n);
  });

  it('a GPA warm-started from the group without its last member settles where a cold start does', async () => {
    const grams = await calibrationGrams(rt, mha, [IDS, IDS.slice(2)]);
    const vg = await HeadGrams.of(mha, 1, 'v', grams[1], rt);
    const kg = await HeadGrams.of(mha, 1, 'k', grams[1], rt);
    const planes = rotaryPlanes(mha);
    for (const [g, pl] of [
      [vg, []],
      [kg, planes],
    ] as const) {
      const group = [0, 3, 5, 6];
      const cold = alignGroup(g, group, pl as [number, number][], 200);
      const warm = alignGroup(g, group, pl as [number, number][], 200, alignGroup(g, group.slice(0, -1), pl as [number, number][], 200).maps);
      expect(Math.abs(warm.residual - cold.residual) / cold.energy).toBeLessThan(2e-3);
      expect(warm.energy).toBe(cold.energy);
      // The residual reported is the one of the maps returned: recompute Σ‖Y_iQ_i − M‖² from the Grams.
      const s = group.length;
      const dh = g.dh;
      let cross = 0;
      for (let i = 0; i < s; i++)
        for (let k = 0; k < s; k++) {
          const G = g.block(group[i], group[k]);
          const Qi = warm.maps[i];
          const Qk = warm.maps[k];
          // tr(Q_iᵀ G_ik Q_k)
          for (let a = 0; a < dh; a++)
            for (let b = 0; b < dh; b++) {
              let gq = 0;
              for (let c = 0; c < dh; c++) gq += G[a * dh + c] * Qk[c * dh + b];
              cross += Qi[a * dh + b] * gq;
            }
        }
      expect(Math.abs(warm.energy - cross / s - warm.residual) / warm.energy).toBeLessThan(1e-9);
    }
  });

  it('procrustes returns an orthogonal matrix, also for a rank-deficient input', () => {
    const n = 6;
    const A = Float64Array.from(randomArray(n * n, 4));
    for (let i = 0; i < n; i++) A[i * n + 5] = A[i * n + 4]; // rank 5
    const Q = procrustes(A, n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += Q[k * n + i] * Q[k * n + j];
        expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-9);
      }
  });
});

describe('search pieces', () => {
  it('enumerates partitions: Stirling numbers and equal-size counts', () => {
    expect(setPartitions(8, 3)!.length).toBe(966);
    expect(setPartitions(6, 1)!.length).toBe(1);
    expect(setPartitions(5, 5)!.length).toBe(1);
    expect(equalPartitions(8, 4)!.length).toBe(105);
    expect(equalPartitions(8, 2)!.length).toBe(35);
    expect(equalPartitions(6, 4)).toBeNull();
    for (const p of setPartitions(6, 3)!) expect(p.flat().sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('the budget DP finds the brute-force optimum', () => {
    const r = mulberry32(9);
    const costs = Array.from({ length: 4 }, () => {
      const c = Array.from({ length: 5 }, () => r());
      return c.sort((a, b) => b - a);
    });
    for (const total of [4, 7, 11, 20]) {
      let best = Infinity;
      for (let a = 1; a <= 5; a++)
        for (let b = 1; b <= 5; b++)
          for (let c = 1; c <= 5; c++) {
            const d = total - a - b - c;
            if (d < 1 || d > 5) continue;
            best = Math.min(best, costs[0][a - 1] + costs[1][b - 1] + costs[2][c - 1] + costs[3][d - 1]);
          }
      const n = allocateBudget(costs, total);
      expect(n.reduce((x, y) => x + y, 0)).toBe(total);
      expect(n.reduce((s, k, l) => s + costs[l][k - 1], 0)).toBeCloseTo(best, 12);
    }
    expect(() => allocateBudget(costs, 3)).toThrow(/cannot be shared by 4 layers/);
  });
});

describe('aligned merge', () => {
  it('on the expanded stories260K at 50 % finds the repeated pairs and gives back the original logits', async () => {
    const ex = expandToMha(s260);
    const grams = await calibrationGrams(rt, ex, [IDS]);
    const aligned = presetRecipe('aligned', { training: false, fallback: false }) as HeadRecipe;
    const { model, groups } = await convertHeads(rt, ex, aligned, 0.5, { grams, sequences: [IDS], seed: 1 });
    for (const { k: g, v } of groups) {
      expect(v).toEqual(g);
      expect(g).toEqual([
        [0, 1],
        [2, 3],
        [4, 5],
        [6, 7],
      ]);
    }
    expect(uniformGqa(model)).toBe(4);
    expect(relMax(forwardRef(model, IDS), forwardRef(s260, IDS))).toBeLessThan(1e-6);
  });
});

describe('export', () => {
  it('a decoupled (DHA) model round-trips through the headlab-dha folder; a GQA llama2.c-shaped one also as model.bin', async () => {
    const dha = mergeHeads(mha, [
      { kGroups: [[0, 5], [1], [2, 3, 4], [6, 7]], vGroups: [[0, 1, 2, 3, 4, 5, 6, 7]] },
      null,
      { kGroups: [[0, 1, 2, 3, 4, 5, 6, 7]], vGroups: [[0], [1, 7], [2], [3], [4], [5], [6]] },
      null,
    ]);
    expect(fitsLlama2c(dha)).toBe(false);
    const dir = await mkdtemp(path.join(tmpdir(), 'headlab-dha-'));
    for (const f of exportFusedModel(dha, { experiment: { seed: 1 } })) await writeFile(path.join(dir, f.name), f.data);
    const back = await load(dir);
    expect(back.source.format).toBe('dha');
    expect(back.layers.map((l) => [l.kv.kHeads, l.kv.vHeads])).toEqual([
      [4, 1],
      [8, 8],
      [1, 7],
      [8, 8],
    ]);
    expect(relMax(forwardRef(back, IDS), forwardRef(dha, IDS))).toBe(0);

    const gqa = meanPool(mha, 0.25);
    expect(fitsLlama2c(gqa)).toBe(true);
    const dir2 = await mkdtemp(path.join(tmpdir(), 'headlab-gqa-'));
    const files = exportFusedModel(gqa);
    expect(files.map((f) => f.name)).toContain('model.bin');
    for (const f of files) await writeFile(path.join(dir2, f.name), f.data);
    const bin = await load(path.join(dir2, 'model.bin'));
    expect(bin.layers[0].kv.kHeads).toBe(2);
    expect(relMax(forwardRef(bin, IDS), forwardRef(gqa, IDS))).toBe(0);
    // The folder is a Hugging Face GQA checkpoint: Llama config, rows permuted to rotate-half, same function.
    const cfg = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'config.json')!.data));
    expect(cfg.architectures).toEqual(['LlamaForCausalLM']);
    expect(cfg.num_key_value_heads).toBe(2);
    const hf = await load(dir2);
    expect(hf.config.family).toBe('llama');
    expect(hf.config.positional).toMatchObject({ kind: 'rotary', style: 'half' });
    expect(relMax(forwardRef(hf, IDS), forwardRef(gqa, IDS))).toBeLessThan(1e-6);
  });

  it('Hugging Face sources: Llama pooled to GQA exports as a Llama config; GPT-2 pooled exports as a headlab-dha folder', async () => {
    for (const [fixture, arch] of [
      ['llama-mha', 'LlamaForCausalLM'],
      ['gpt2', 'HeadlabDhaForCausalLM'],
    ] as const) {
      const src = await load(testdata(`fixtures/hf/${fixture}`));
      const H = src.config.heads;
      const pooled = meanPool(src, H % 2 === 0 ? 0.5 : 1 / H);
      const files = exportFusedModel(pooled);
      const cfg = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'config.json')!.data));
      expect(cfg.architectures).toEqual([arch]);
      const dir = await mkdtemp(path.join(tmpdir(), `headlab-${fixture}-`));
      for (const f of files) await writeFile(path.join(dir, f.name), f.data);
      const back = await load(dir);
      const ids = IDS.map((t) => t % src.config.vocab);
      expect(relMax(forwardRef(back, ids), forwardRef(pooled, ids))).toBeLessThan(1e-6);
    }
  });
});
