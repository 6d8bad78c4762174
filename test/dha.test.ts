// DHA (our reconstruction) as the recipe executor runs it: the search's budget path, the aligned merge as step 0, own
// layer-local steps of the fused model that keep its best state on a calibration probe, determinism under a seed, and the
// fused model's export round trip.
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gpu } from './gpu-context';
import { testdata } from './testdata';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { Model } from '../src/model/types';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles, type LoadedModel } from '../src/model/load';
import { calibrationGrams, calibrationSequences, calibrationTokens, type LayerGram } from '../src/analysis/calibration';
import type { DhaEvent } from '../src/fusion/ownSteps';
import { allocate } from '../src/fusion/grouping';
import { convertHeads } from '../src/fusion/headSharing';
import { presetRecipe, type HeadRecipe, type OwnStepSettings } from '../src/fusion/recipe';
import { recoverySteps } from '../src/fusion/fuse';
import { trainingWindows } from '../src/train/data';
import { exportFusedModel } from '../src/fusion/export';
import { forwardRef } from '../src/reference/transformer';

let rt: GpuRuntime;
let loaded: LoadedModel;
let calib: number[][];
let grams: LayerGram[];
const OWN: Partial<OwnStepSettings> = { tokensPerStep: 64, seqLen: 32, lr: 2e-3, checkEvery: 3 };

beforeAll(async () => {
  rt = await gpu();
  const { files, primary } = await filesFromPath(testdata('data/stories260K.bin'));
  loaded = await loadModelFiles(files, { primary });
  const text = await readFile(testdata('data/tinystories_sample.txt'), 'utf8');
  calib = calibrationSequences(calibrationTokens(loaded.tokenizer!, text, 640), 256);
  grams = await calibrationGrams(rt, loaded.model, calib);
});

/** DHA's preset at 50 % with 6 own steps, `choices` and `own` on top. */
async function run(seed: number, choices: Partial<HeadRecipe> = {}, own: Partial<OwnStepSettings> = {}) {
  const events: DhaEvent[] = [];
  const base = presetRecipe('dha', { training: false, fallback: false }) as HeadRecipe;
  const recipe: HeadRecipe = { ...base, ownSteps: 6, ...choices, own: { ...base.own, ...OWN, ...own } };
  const x = await convertHeads(rt, loaded.model, recipe, 0.5, { grams, sequences: calib, seed }, { onEvent: (e) => events.push(e) });
  const r = {
    ...x,
    perLayer: x.groups.map((g) => ({ k: g.k.length, v: g.v.length })),
    checks: x.own?.checks ?? [],
    bestStep: x.own?.bestStep ?? 0,
    history: x.own?.history ?? [],
  };
  return { r, events };
}

describe('DHA', () => {
  it('search, the aligned merge as step 0, layer-local training that keeps its best state; deterministic under a seed', { timeout: 600_000 }, async () => {
    const a = await run(7);
    const { r, events } = a;
    // 5 layers × 4 KV heads at 50 %: 10 K heads and 10 V heads in all, at least one per layer.
    const sum = (k: 'k' | 'v') => r.perLayer.reduce((s, p) => s + p[k], 0);
    expect(sum('k')).toBe(10);
    expect(sum('v')).toBe(10);
    expect(r.perLayer.every((p) => p.k >= 1 && p.v >= 1)).toBe(true);
    const search = events.filter((e) => e.phase === 'search');
    expect(search.length).toBe(10);
    expect(search.at(-1)!.perLayer).toEqual(r.perLayer);
    expect(search[0].budget).toBeGreaterThan(search.at(-1)!.budget);
    const fusion = events.filter((e) => e.phase === 'fusion');
    expect(fusion.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // The layer-local loss falls as the fused attention learns the original's outputs.
    expect(fusion.at(-1)!.loss).toBeLessThan(fusion[0].loss);
    // Checks at steps 0, 3 and 6; the kept state is the one with the least calibration KL.
    const checks = events.filter((e) => e.phase === 'check');
    expect(checks.map((e) => e.step)).toEqual([0, 3, 6]);
    expect(r.checks.map((c) => c.step)).toEqual([0, 3, 6]);
    const best = r.checks.reduce((x, y) => (y.kl < x.kl ? y : x));
    expect(r.bestStep).toBe(best.step);
    expect(r.trainSteps).toBe(6);
    expect(r.trainTokens).toBe(6 * 64);
    // Decoupled maps: every query head reads an existing K head and V head.
    for (const l of r.model.layers) {
      expect(Math.max(...l.kv.kHeadOf)).toBe(l.kv.kHeads - 1);
      expect(Math.max(...l.kv.vHeadOf)).toBe(l.kv.vHeads - 1);
    }
    // The same seed gives the same budgets, losses and weights.
    const b = await run(7);
    expect(b.r.perLayer).toEqual(r.perLayer);
    expect(b.r.history).toEqual(r.history);
    for (let l = 0; l < r.model.layers.length; l++) {
      for (const w of ['wq', 'wk', 'wv', 'wo'] as const) expect(b.r.model.layers[l].attn[w]).toEqual(r.model.layers[l].attn[w]);
    }
    // The fused model exports and loads back to the same logits.
    const dir = await mkdtemp(path.join(tmpdir(), 'headlab-dha-run-'));
    for (const f of exportFusedModel(r.model)) await writeFile(path.join(dir, f.name), f.data);
    const { files } = await filesFromPath(dir);
    const back: Model = (await loadModelFiles(files)).model;
    const ids = calib[0].slice(0, 20);
    expect(forwardRef(back, ids)).toEqual(forwardRef(r.model, ids));
  });

  it("0 steps is the aligned, renormalised merge on DHA's budgets; a step that would make the probe worse is not kept", { timeout: 600_000 }, async () => {
    const zero = await run(7, { ownSteps: 0 });
    expect(zero.r.trainSteps).toBe(0);
    expect(zero.events.filter((e) => e.phase === 'fusion')).toHaveLength(0);
    // A learning rate far too large: the probe sees the damage, and the step-0 model comes back.
    const wild = await run(7, { ownSteps: 2 }, { lr: 5, checkEvery: 1 });
    expect(wild.r.checks[1].kl).toBeGreaterThan(wild.r.checks[0].kl);
    expect(wild.r.bestStep).toBe(0);
    for (let l = 0; l < zero.r.model.layers.length; l++) expect(wild.r.model.layers[l].attn.wq).toEqual(zero.r.model.layers[l].attn.wq);
  });

  it('K/V-only training with teacher or student layer inputs: both train, and they see different inputs', { timeout: 600_000 }, async () => {
    const losses: Record<string, number[]> = {};
    for (const inputs of ['teacher', 'student'] as const) {
      const { events } = await run(7, { ownSteps: 2 }, { params: 'kv', inputs, checkEvery: 0 });
      losses[inputs] = events.flatMap((e) => (e.phase === 'fusion' ? [e.loss] : []));
      expect(losses[inputs]).toHaveLength(2);
    }
    // Step 1 trains the same merged weights; with student inputs the layers after the first see the fused model's
    // activations, so the mean loss differs.
    expect(losses.student[0]).not.toBe(losses.teacher[0]);
  });

  it('packs calibration sequences into windows of the training length', () => {
    expect(
      trainingWindows(
        [
          [1, 2, 3],
          [4, 5, 6, 7],
        ],
        3,
      ),
    ).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(trainingWindows([[1, 2]], 8)).toEqual([[1, 2]]);
  });

  it('allocation switches: search or uniform counts, K and V budgets apart or one joint K+V budget', () => {
    // Two layers of 4 heads; V is costly to merge in layer 1, K is cheap everywhere.
    const costs = {
      k: [
        [0.3, 0.02, 0.01, 0],
        [0.3, 0.02, 0.01, 0],
      ],
      v: [
        [0.5, 0.2, 0.1, 0],
        [0.9, 0.7, 0.3, 0],
      ],
    };
    expect(allocate(costs, 4, 4, { allocation: 'search', kvSplit: 'equal' })).toEqual({ k: [2, 2], v: [1, 3] });
    // joint: the 8 heads may go where they cost least — fewer K heads, more V heads
    const joint = allocate(costs, 4, 4, { allocation: 'search', kvSplit: 'joint' });
    expect(joint.k.reduce((a, b) => a + b) + joint.v.reduce((a, b) => a + b)).toBe(8);
    expect(joint.v.reduce((a, b) => a + b)).toBeGreaterThan(4);
    expect(joint).toEqual({ k: [1, 1], v: [2, 4] });
    expect(allocate(costs, 4, 4, { allocation: 'uniform', kvSplit: 'equal' })).toEqual({ k: [2, 2], v: [2, 2] });
    expect(allocate(costs, 5, 3, { allocation: 'uniform', kvSplit: 'equal' })).toEqual({ k: [3, 2], v: [2, 1] });
    // uniform + joint: 4 heads in each layer, split between K and V by the layer's own costs
    expect(allocate(costs, 4, 4, { allocation: 'uniform', kvSplit: 'joint' })).toEqual({ k: [2, 1], v: [2, 3] });
  });

  it('the DHA preset honours the switches: joint K+V totals, uniform counts', { timeout: 600_000 }, async () => {
    const joint = await run(7, { ownSteps: 0, kvSplit: 'joint' });
    const total = (r: typeof joint.r, k: 'k' | 'v') => r.perLayer.reduce((s, p) => s + p[k], 0);
    expect(total(joint.r, 'k') + total(joint.r, 'v')).toBe(20);
    const uniform = await run(7, { ownSteps: 0, allocation: 'uniform' });
    expect(uniform.r.perLayer.every((p) => p.k === 2 && p.v === 2)).toBe(true);
    for (const l of uniform.r.model.layers) expect([l.kv.kHeads, l.kv.vHeads]).toEqual([2, 2]);
  });

  it("equal total tokens: a conversion's own tokens come out of the shared training budget", () => {
    expect(recoverySteps(50, 4096, 0)).toBe(50);
    expect(recoverySteps(50, 4096, 10 * 4096)).toBe(40);
    expect(recoverySteps(12, 512, 10 * 256)).toBe(7); // 2560 tokens: 5 steps of 512
    expect(recoverySteps(12, 512, 2600)).toBe(6); // a part step counts as a step: never more than the budget
    expect(() => recoverySteps(5, 4096, 10 * 4096)).toThrow(/exceeds the training budget of 5 steps .* give more training steps or fewer own steps/);
  });
});
