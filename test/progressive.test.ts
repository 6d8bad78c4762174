// Progressive fusion (src/fusion/progressive.ts): the operators at step 0 give the original's logits; ∂L/∂Ω from the GPU
// (backward, then G·W̃ᵀ) against central finite differences of the float64 reference loss; a group whose rows agree
// collapses to one head without changing the logits; collapsing at ω = I is the merge; and a whole run on the demo starts
// at the original's perplexity, ends at the budget's head counts with rows that agree, and its folder reloads to the same
// perplexity.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../src/model/types';
import type { GpuRuntime } from '../src/gpu/runtime';
import { GpuModel } from '../src/eval/gpuModel';
import { ForwardPass } from '../src/eval/forward';
import { trainingLoss } from '../src/gpu/kernels/layerGrads';
import { NO_TARGET } from '../src/gpu/kernels/transformer';
import { allocateTrainables } from '../src/train/params';
import { Backward } from '../src/train/backward';
import { modelLossRef } from '../src/reference/layerGrads';
import { forwardRef } from '../src/reference/transformer';
import { calibrationGrams } from '../src/analysis/calibration';
import { headGramsOf, type LayerGroups } from '../src/fusion/grouping';
import { alignedFrame, collapseGroups, mergeCoefficients } from '../src/fusion/merge';
import { FusionOperators } from '../src/fusion/progressive';
import { AGREEMENT_TOLERANCE, collapseCoefficients, groupDisagreement, groupGammas, identityOperators } from '../src/fusion/operators';
import { fuse } from '../src/fusion/fuse';
import { presetRecipe, type HeadRecipe } from '../src/fusion/recipe';
import { perplexity } from '../src/eval/perplexity';
import { exportFusedModel } from '../src/fusion/export';
import { loadModelFiles } from '../src/model/load';
import { filesFromPath } from '../src/model/node-files';
import { calibrationSequences, calibrationTokens } from '../src/analysis/calibration';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testdata } from './testdata';
import { seededRandom } from '../src/random';
import { gpu } from './gpu-context';
import { modelAt, modelOf } from './models';
import { qwen2Files } from './synthetic';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await gpu();
});

/** Groups over each layer's K and V heads: two groups per kind where there are enough heads, one otherwise. */
function someGroups(model: Model): LayerGroups[] {
  return model.layers.map((l, i) => {
    const split = (n: number, shift: number) => {
      if (n < 3) return [Array.from({ length: n }, (_, h) => h)];
      const a = Array.from({ length: n }, (_, h) => h).filter((h) => (h + shift) % 3 !== 0);
      return [a, Array.from({ length: n }, (_, h) => h).filter((h) => !a.includes(h))];
    };
    return { k: split(l.kv.kHeads, i), v: split(l.kv.vHeads, i + 1) };
  });
}

/** The model with W' = Ω·W̃ for every K/V weight and bias, in float64 then rounded (the reference of the derived weights). */
function derived(model: Model, ops: FusionOperators): Model {
  const { dim, headDim: dh } = model.config;
  const mix = (w: Float32Array | undefined, omega: Float64Array, n: number, width: number) => {
    if (!w) return w;
    const out = new Float32Array(w.length);
    for (let h = 0; h < n; h++)
      for (let e = 0; e < width; e++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += omega[h * n + j] * w[j * width + e];
        out[h * width + e] = s;
      }
    return out;
  };
  return {
    ...model,
    layers: model.layers.map((l, i) => {
      const b = ops.blocks[i];
      return {
        ...l,
        attn: {
          ...l.attn,
          wk: mix(l.attn.wk, b.k.omega, b.k.n, dh * dim)!,
          bk: mix(l.attn.bk, b.k.omega, b.k.n, dh),
          wv: mix(l.attn.wv, b.v.omega, b.v.n, dh * dim)!,
          bv: mix(l.attn.bv, b.v.omega, b.v.n, dh),
        },
      };
    }),
  };
}

/** Random operators inside each group's block (rows differ), or agreeing rows (every member the group's one random row). */
function randomise(ops: FusionOperators, seed: number, agree: boolean) {
  const r = seededRandom(seed);
  for (const lb of ops.blocks)
    for (const b of [lb.k, lb.v]) {
      b.omega.fill(0);
      for (const g of b.groups) {
        const shared = g.map(() => 0.3 + r());
        for (const h of g) g.forEach((j, i) => (b.omega[h * b.n + j] = agree ? shared[i] : (h === j ? 1 : 0) + 0.4 * (r() - 0.5)));
      }
    }
}

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
};

const CASES: [string, () => Promise<Model>][] = [
  ['Llama MHA (rotate-half)', () => modelAt('fixtures/hf/llama-mha')],
  ['Qwen2 (k/v biases, GQA)', () => modelOf(qwen2Files())],
];

describe('progressive fusion operators on the GPU', () => {
  it.each(CASES)('%s: step 0 is the original; ∂L/∂Ω matches finite differences; agreeing rows collapse exactly', async (_n, load) => {
    const model = await load();
    const B = 2;
    const T = 6;
    const V = model.config.vocab;
    const rand = seededRandom(3);
    const ids = Uint32Array.from({ length: B * T }, () => Math.floor(rand() * V));
    const groups = someGroups(model);
    const gm = await GpuModel.upload(rt, model);
    const fp = await ForwardPass.create(gm, { batch: B, chunk: T, cacheT: T, keep: true });
    const params = await allocateTrainables(rt, gm, 'kv');
    const ops = new FusionOperators(rt, model, groups, { steps: 1, trains: 'operators', lr: 0, tokensPerStep: B * T });
    await ops.attach(gm, params);
    expect(params.trainables).toEqual([]); // only the operators train
    const bw = await Backward.create(fp, params.grads);
    const logitsOf = async () => {
      await fp.run(ids, T, 0);
      return rt.read(fp.logits);
    };
    const refLogits = (m: Model) => {
      const out = new Float64Array(B * T * V);
      for (let b = 0; b < B; b++) out.set(forwardRef(m, Array.from(ids.subarray(b * T, (b + 1) * T))), b * T * V);
      return out;
    };
    // Step 0: Ω = I, the model is the original.
    expect(relErr(await logitsOf(), refLogits(model))).toBeLessThan(1e-5);

    // ∂L/∂Ω at random operators, KL to a teacher (the original) plus cross-entropy.
    randomise(ops, 5, false);
    await ops.applyOperators();
    const teacher = refLogits(model);
    const targets = Uint32Array.from({ length: B * T }, (_, r) => (r % T === T - 1 ? NO_TARGET : ids[r + 1]));
    const scored = targets.filter((x) => x !== NO_TARGET).length;
    const klWeight = 0.7;
    await fp.run(ids, T, 0);
    const rowLoss = await rt.tensor('row loss', B * T);
    await trainingLoss(rt, fp.logits, await rt.tensor('teacher', Float32Array.from(teacher)), await rt.tensor('targets', targets), rowLoss, {
      rows: B * T,
      vocab: V,
      klWeight,
      scale: 1 / scored,
    });
    await bw.run();
    await ops.afterBackward();
    const loss = () => modelLossRef(derived(model, ops), ids, T, teacher, targets, klWeight);
    const rows: { gpu: number; fd: number }[] = [];
    ops.blocks.forEach((lb, l) =>
      (['k', 'v'] as const).forEach((kind) => {
        const b = lb[kind];
        for (const g of b.groups)
          for (const h of g)
            for (const j of g) {
              const e = h * b.n + j;
              const orig = b.omega[e];
              const step = 1e-4;
              b.omega[e] = orig + step;
              const lp = loss();
              b.omega[e] = orig - step;
              const lm = loss();
              b.omega[e] = orig;
              rows.push({ gpu: ops.lastGradient[l][kind][e], fd: (lp - lm) / (2 * step) });
            }
      }),
    );
    const norm = Math.hypot(...rows.map((r) => r.fd));
    expect(norm).toBeGreaterThan(0);
    expect(Math.hypot(...rows.map((r) => r.gpu - r.fd)) / norm).toBeLessThan(2e-3);

    // Rows that agree: the collapsed model (one head per group) computes what the uncollapsed one does.
    randomise(ops, 9, true);
    await ops.applyOperators();
    const uncollapsed = await logitsOf();
    const collapsed = collapseGroups(model, groups, ops.coefficients(null), 'separate');
    expect(collapsed.layers.map((l) => [l.kv.kHeads, l.kv.vHeads])).toEqual(groups.map((g) => [g.k.length, g.v.length]));
    expect(relErr(uncollapsed, refLogits(collapsed))).toBeLessThan(1e-4);
    bw.release();
    ops.release();
    params.release();
    fp.release();
    gm.release();
  });
});

describe('the collapse', () => {
  it('renormalising does nothing once rows agree, and at ω = I gives the merge', async () => {
    const r = seededRandom(4);
    const n = 3;
    const A = Array.from({ length: n * n }, () => r() - 0.5);
    const G = new Float64Array(n * n); // a Gram: AᵀA
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let t = 0; t < n; t++) G[i * n + k] += A[t * n + i] * A[t * n + k];
    const b = identityOperators(n, [[0, 1, 2]]);
    const row = [0.2, 0.5, 0.4];
    for (let h = 0; h < n; h++) row.forEach((x, j) => (b.omega[h * n + j] = x));
    expect(groupDisagreement(b.omega, n, [0, 1, 2]).c).toBe(0);
    collapseCoefficients(b, [G])[0].forEach((c, j) => expect(c).toBeCloseTo(row[j], 12));
  });

  it('at ω = I the collapse coefficients are the aligned merge’s (renormalised, with calibration Grams)', async () => {
    const model = await modelAt('data/stories260K.bin');
    const seqs = [Array.from({ length: 64 }, (_, i) => (i * 37) % model.config.vocab)];
    const headGrams = await headGramsOf(model, await calibrationGrams(rt, model, seqs), rt);
    const groups = someGroups(model);
    const frame = alignedFrame(model, groups, headGrams, { align: 'on', renormalise: 'on' });
    const merge = mergeCoefficients(groups, frame.alignments, 'on');
    const gammas = groupGammas(groups, headGrams, frame.alignments, 'on')!;
    groups.forEach((lg, l) =>
      (['k', 'v'] as const).forEach((kind) => {
        const got = collapseCoefficients(identityOperators(kind === 'k' ? model.layers[l].kv.kHeads : model.layers[l].kv.vHeads, lg[kind]), gammas[l][kind]);
        got.forEach((c, gi) => c.forEach((x, i) => expect(Math.abs(x - merge[l][kind][gi][i]) / merge[l][kind][gi][i]).toBeLessThan(1e-9)));
      }),
    );
  });
});

describe('a progressive DHA run on the demo', () => {
  it('starts at the original, ends at the budget with agreeing rows, and its folder reloads to its perplexity', async () => {
    const { files, primary } = await filesFromPath(testdata('data/demo/demo-mha-bytes.bin'));
    const loaded = await loadModelFiles(files, { primary });
    const model = loaded.model;
    const text = await readFile(testdata('data/demo/demo-stories.txt'), 'utf8');
    const tokens = calibrationTokens(loaded.tokenizer!, text, 2048 + 384);
    const calibration = calibrationSequences(tokens.slice(0, 2048), model.config.contextLength);
    const evalDocs = calibrationSequences(tokens.slice(2048), model.config.contextLength);
    // DHA's preset on a CPU fallback (20 own steps), progressive, steps of 128 tokens (small: the suite runs on 2 cores).
    const base = presetRecipe('dha', { training: false, fallback: true }) as HeadRecipe;
    const recipe: HeadRecipe = { ...base, fusion: 'progressive', own: { ...base.own, tokensPerStep: 128, seqLen: 64 } };
    const r = await fuse(rt, model, { recipe, budget: 0.25, seed: 1, calibrationTokens: null, train: null }, { calibration, evalDocs });
    const gm0 = await GpuModel.upload(rt, model);
    const original = (await perplexity(gm0, evalDocs)).ppl;
    gm0.release();
    const f = r.fusion!;
    expect(f.curve[0].step).toBe(0);
    expect(Math.abs(f.curve[0].ppl! - original) / original).toBeLessThan(1e-5);
    expect(r.ownSteps).toBe(20);
    expect(f.history.map((h) => h.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(f.disagreement).toBeLessThanOrEqual(AGREEMENT_TOLERANCE);
    const heads = model.layers.reduce((a, l) => a + l.kv.kHeads + l.kv.vHeads, 0);
    expect(r.perLayer.reduce((a, p) => a + p.k + p.v, 0)).toBe(Math.round(heads * 0.25));
    // The curve's last point is the collapsed model, within the rows' remaining disagreement of the uncollapsed one.
    const gm = await GpuModel.upload(rt, r.model);
    const after = (await perplexity(gm, evalDocs)).ppl;
    gm.release();
    expect(r.curve.at(-1)!.ppl).toBeCloseTo(after, 10);
    const uncollapsed = f.curve.at(-1)!.ppl!;
    expect(Math.abs(after - uncollapsed) / uncollapsed).toBeLessThan(1e-3);
    // The written folder reloads to the same perplexity.
    const dir = await mkdtemp(path.join(tmpdir(), 'headlab-progressive-'));
    for (const x of exportFusedModel(r.model)) await writeFile(path.join(dir, x.name), x.data);
    const back = (await loadModelFiles((await filesFromPath(dir)).files)).model;
    const gm2 = await GpuModel.upload(rt, back);
    expect((await perplexity(gm2, evalDocs)).ppl).toBeCloseTo(after, 10);
    gm2.release();
  }, 600_000);
});
