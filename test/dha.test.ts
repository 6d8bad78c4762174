// DHA (our reconstruction): the search's budget path, the fusion stage starting at the original model, the fusion loss
// falling under the augmented Lagrangian, determinism under a seed, and the fused model's export round trip.
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gpu } from './gpu-context';
import { shared } from './shared';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { Model } from '../src/model/types';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles, type LoadedModel } from '../src/model/load';
import { calibrationSequences, calibrationTokens } from '../src/analysis/calibration';
import { dhaFuse, type DhaEvent } from '../src/fusion/dha';
import { trainingWindows } from '../src/train/data';
import { exportFusedModel } from '../src/fusion/export';
import { forwardRef } from '../src/reference/transformer';

let rt: GpuRuntime;
let loaded: LoadedModel;
let calib: number[][];
const OPTS = { budget: 0.5, steps: 12, recoverySteps: 2, tokensPerStep: 64, seqLen: 32, seed: 7, lr: 0.05 };

beforeAll(async () => {
  rt = await gpu();
  const { files, primary } = await filesFromPath(shared('data/stories260K.bin'));
  loaded = await loadModelFiles(files, { primary });
  const text = await readFile(shared('data/tinystories_sample.txt'), 'utf8');
  calib = calibrationSequences(calibrationTokens(loaded.tokenizer!, text, 640), 256);
});

async function run(seed: number) {
  const events: DhaEvent[] = [];
  const r = await dhaFuse(rt, loaded.model, calib, { ...OPTS, seed, onEvent: (e) => events.push(e) });
  return { r, events };
}

describe('DHA', () => {
  it('search, fusion from the identity, falling fusion loss, recovery; deterministic under a seed', { timeout: 600_000 }, async () => {
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
    const fusion = events.filter((e) => e.phase === 'fusion') as Extract<DhaEvent, { step: number }>[];
    expect(fusion.map((e) => e.step)).toEqual(Array.from({ length: OPTS.steps }, (_, i) => i + 1));
    // Step 1 is measured before any update: identity operators on the aligned model = the original layer.
    expect(fusion[0].loss).toBeLessThan(1e-9);
    expect(fusion[0].operators![0].k.length).toBe(16);
    const f0 = fusion[0].fusionLoss.k + fusion[0].fusionLoss.v;
    const fN = fusion.at(-1)!.fusionLoss.k + fusion.at(-1)!.fusionLoss.v;
    expect(fN).toBeLessThan(0.7 * f0);
    expect(events.filter((e) => e.phase === 'recovery').length).toBe(2);
    expect(r.trainSteps).toBe(14);
    expect(r.trainTokens).toBe(14 * 64);
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
      expect(b.r.model.layers[l].attn.wk).toEqual(r.model.layers[l].attn.wk);
      expect(b.r.model.layers[l].attn.wv).toEqual(r.model.layers[l].attn.wv);
    }
    // The fused model exports and loads back to the same logits.
    const dir = await mkdtemp(path.join(tmpdir(), 'headlab-dha-run-'));
    for (const f of exportFusedModel(r.model)) await writeFile(path.join(dir, f.name), f.data);
    const { files } = await filesFromPath(dir);
    const back: Model = (await loadModelFiles(files)).model;
    const ids = calib[0].slice(0, 20);
    expect(forwardRef(back, ids)).toEqual(forwardRef(r.model, ids));
  });

  it('recovery with teacher or student layer inputs: both train, and they see different inputs', { timeout: 600_000 }, async () => {
    const losses: Record<string, number[]> = {};
    for (const inputs of ['teacher', 'student'] as const) {
      const events: DhaEvent[] = [];
      await dhaFuse(rt, loaded.model, calib, { ...OPTS, steps: 0, recoverySteps: 2, recoveryInputs: inputs, onEvent: (e) => events.push(e) });
      losses[inputs] = events.flatMap((e) => (e.phase === 'recovery' ? [e.loss] : []));
      expect(losses[inputs]).toHaveLength(2);
    }
    // Step 1 of both trains the same merged weights; with student inputs the layers after the first see the fused model's
    // activations, so the mean loss differs.
    expect(losses.student[0]).not.toBe(losses.teacher[0]);
  });

  it('packs calibration sequences into windows of the training length', () => {
    expect(trainingWindows([[1, 2, 3], [4, 5, 6, 7]], 3)).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(trainingWindows([[1, 2]], 8)).toEqual([[1, 2]]);
  });
});
