// The page's latent KV (MLA), DOM-free: the Fuse panel's settings as a run reads them (0 rotary pairs: automatic), what a
// run is called, the race's MLA lane, what a latent result caches per layer in the tables, the model card's and the head
// layout's latent line and bytes on the demo converted at 25 %, and the core's --rope-pairs error in the page's words.
import { beforeAll, describe, expect, it } from 'vitest';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import type { Model } from '../src/model/types';
import { kvBytesPerToken, layoutKvBytes, layoutsOf } from '../src/model/heads';
import { latentLine, modelCard } from '../src/model/card';
import { mlaConvert, mlaSizes, type MlaResult } from '../src/fusion/mla';
import { defaults } from '../src/lab/settings';
import { runConfigOf } from '../src/lab/fuseSettings';
import { LANE_BY_KEY, LANE_KEYS, laneConfig, type RaceSettings } from '../src/lab/variants';
import { raceBudgetProblem } from '../src/lab/raceLanes';
import { compactShape, inPageWords, shapeLines, type RecoverySettings, type RunConfig } from '../src/lab/fusionRun';
import { presetRecipe, recipeLabel, type LatentRecipe } from '../src/fusion/recipe';
import { testdata } from './testdata';

const noTraining: RecoverySettings = { steps: 0, lr: 1e-3, params: 'all', loss: 'kl', batch: 8, seqLen: 64, evalEvery: 4 };

function panel(overrides: Partial<ReturnType<typeof defaults>>): RunConfig & { mla: Omit<LatentRecipe, 'family' | 'preset'> } {
  const r = runConfigOf({ ...defaults(true), 'fuse.method': 'mla', ...overrides }, noTraining, true);
  if ('problem' in r) throw new Error(r.problem);
  const { family: _f, preset: _p, ...mla } = r.config.recipe as LatentRecipe;
  return { ...r.config, mla };
}

describe('the Fuse panel offers latent KV (MLA)', () => {
  it('reads the MLA controls into the run: rotary pairs automatic leaves the choice to the core; otherwise any count, 0 included', () => {
    const s = panel({});
    expect(s.recipe.preset).toBe('mla');
    expect(s.budget).toBe(0.5);
    expect(s.mla).toEqual({ ropeSelect: 'norm', latentInit: 'activations' });
    expect('ropePairs' in s.mla!).toBe(false);
    expect(panel({ 'fuse.ropePairs': 3 }).mla).toEqual({ ropeSelect: 'norm', latentInit: 'activations' }); // automatic: the count is not read
    const chosen = {
      'fuse.ropeAuto': false,
      'fuse.ropeSelect': 'low',
      'fuse.latentInit': 'weights',
      'fuse.ropePairs': 3,
      'fuse.budget': 'custom',
      'fuse.pct': 12.5,
    } as const;
    expect(panel(chosen)).toMatchObject({ budget: 0.125, mla: { ropeSelect: 'low', latentInit: 'weights', ropePairs: 3 } });
    expect(panel({ 'fuse.ropeAuto': false, 'fuse.ropePairs': 0 }).mla).toEqual({ ropeSelect: 'norm', latentInit: 'activations', ropePairs: 0 });
    const bad = runConfigOf({ ...defaults(true), 'fuse.method': 'mla', 'fuse.ropeAuto': false, 'fuse.ropePairs': 1.5 }, noTraining, true);
    expect(bad).toEqual({ problem: 'rotary pairs: "1.5" is not a whole number.' });
    expect('problem' in runConfigOf({ ...defaults(true), 'fuse.method': 'mla', 'fuse.ropePairs': 1.5 }, noTraining, true)).toBe(false); // not read
  });

  it('names what was run: the pair choice, how many pairs when set, and what the latent is fitted to', () => {
    const r = panel({}).recipe as LatentRecipe;
    expect(recipeLabel(r)).toBe('MLA (norm pairs, activations)');
    expect(recipeLabel(presetRecipe('mla', { training: false, fallback: true }))).toBe('MLA (norm pairs, activations)'); // the core's defaults
    expect(recipeLabel({ ...r, ropeSelect: 'uniform', latentInit: 'weights', ropePairs: 2 })).toBe('MLA (2 uniform pairs, weights)');
    expect(recipeLabel({ ...r, ropePairs: 0 })).toBe('MLA (no rotary pairs, activations)');
    // the other methods' labels do not read the MLA settings
    expect(recipeLabel({ ...presetRecipe('dha', { training: false, fallback: true }), ownSteps: 4 } as never)).toBe('DHA (4 own steps)');
  });

  it('races an MLA lane with no own steps, so that it spends the whole shared budget end to end', () => {
    expect(LANE_KEYS).toContain('mla');
    const lane = LANE_BY_KEY.get('mla')!;
    expect(lane.method).toBe('mla');
    expect(lane.changes).toContain('every head stays distinct');
    const shared: RaceSettings = { budget: 0.5, seed: 1, calibrationTokens: 2048, ownSteps: 10, renormalise: true, train: { ...noTraining, steps: 4 } };
    const s = laneConfig('mla', shared);
    expect([s.recipe.preset, s.recipe.family, s.budget, s.train]).toEqual(['mla', 'latent', shared.budget, shared.train]);
    expect(raceBudgetProblem(shared, ['mla', 'meanpool'])).toBeNull();
    expect(raceBudgetProblem(shared, ['mla', 'dha'])).toContain("DHA's own steps");
    expect(defaults(true)['race.methods']).toContain('mla');
  });
});

describe('a latent result in the tables, the card and the head layout (the demo at 25 %)', () => {
  let demo: Model;
  let mla: MlaResult;
  beforeAll(async () => {
    const { files, primary } = await filesFromPath(testdata('data/demo/demo-mha-bytes.bin'));
    demo = (await loadModelFiles(files, { primary })).model;
    // from the weights with fixed pairs: no calibration text, no GPU
    mla = await mlaConvert(demo, null, { budget: 0.25, ropeSelect: 'high', latentInit: 'weights' });
  });

  it('shows each layer’s latent width and kept rotary dims where the other methods show K/V heads', () => {
    const perLayer = mla.model.layers.map((l) => ({ k: l.kv.kHeads, v: l.kv.vHeads }));
    // 25 % of 16 heads × 16 dims = 64 values per layer: 8 K heads × 2 pairs × 2 dims, and a latent of 32
    expect(compactShape(perLayer, mla.layers)).toBe('32+32 32+32 32+32 32+32');
    expect(compactShape(perLayer, null)).toBe('8/8 8/8 8/8 8/8');
    const lines = shapeLines(perLayer, mla.layers);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^layer 0: a latent of 32 values \+ 8 K heads × 2 rotary pairs \(32 rotary key dims\) per token; the latent keeps \d+\.\d % of/);
    expect(shapeLines(perLayer)[2]).toBe('layer 2: 8 K, 8 V heads');
  });

  it('says on the card and in the head layout what the latent costs: layers × (d_c + kept rotary dims) × 4 bytes', () => {
    expect(kvBytesPerToken(mla.model)).toBe(4 * (32 + 32) * 4);
    const card = modelCard(mla.model, null);
    expect(card.latent).toEqual([1, 2, 3, 4].map(() => ({ rank: 32, ropePairs: 2 })));
    expect(latentLine(card.latent!, card.kvBytesPerToken)).toBe('latent KV: d_c = 32, r = 2 rotary pairs per K head, 1,024 bytes/token');
    expect(latentLine([{ rank: 40, ropePairs: 2 }, null], 1000)).toBe('latent KV: d_c = 40/–, r = 2/– rotary pairs per K head, 1,000 bytes/token');
    expect(modelCard(demo, null).latent).toBeNull();
    // the head layout carries each latent layer's shape, and counts the same bytes as the model
    const layouts = layoutsOf(mla.model);
    expect(layouts[3].latent).toEqual({ rank: 32, ropePairs: Array.from({ length: 8 }, () => [0, 1]) });
    expect(layoutKvBytes(demo.config.headDim, layouts)).toBe(kvBytesPerToken(mla.model));
    expect(layoutsOf(demo)[0].latent).toBeUndefined();
    expect(layoutKvBytes(demo.config.headDim, layoutsOf(demo))).toBe(kvBytesPerToken(demo));
  });

  it("words the core's --rope-pairs errors for the page, and leaves other errors alone", () => {
    let thrown: unknown;
    try {
      mlaSizes(demo, 0, 0.01, 1); // 3 values per token cannot hold 8 K heads × 2 rotary dims
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(RangeError);
    expect((thrown as Error).message).toContain('--rope-pairs');
    const worded = inPageWords(thrown) as Error;
    expect(worded).toBeInstanceOf(RangeError);
    expect(worded.message).not.toContain('--');
    expect(worded.message).toContain('keep fewer rotary pairs (the “rotary pairs” control) or give a larger budget');
    const other = new Error('8 KV heads cannot be pooled into 3 equal groups');
    expect(inPageWords(other)).toBe(other);
  });
});
