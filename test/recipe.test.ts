// One conversion recipe (src/fusion/recipe.ts): the presets as choices, every choice honoured by the one grouping search and
// merge (src/fusion/grouping.ts, headSharing.ts), combinations that cannot run refused with their reason, one function from
// flags and one from the page's settings to the run configuration, and the results row derived from the one record.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { gpu } from './gpu-context';
import { testdata } from './testdata';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { Model } from '../src/model/types';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles, type LoadedModel } from '../src/model/load';
import { calibrationGrams, calibrationSequences, calibrationTokens } from '../src/analysis/calibration';
import { groupHeads, headGramsOf, type LayerHeadGrams } from '../src/fusion/grouping';
import { meanPool } from '../src/fusion/headSharing';
import { mergeGroups } from '../src/fusion/merge';
import {
  changedChoices,
  HEAD_CHOICES,
  PRESET_CHOICES,
  presetRecipe,
  recipeLabel,
  recipeProblem,
  type HeadChoices,
  type HeadRecipe,
} from '../src/fusion/recipe';
import { forwardRef } from '../src/reference/transformer';
import { parseArgs } from '../src/cli/args';
import { runConfigFromArgs } from '../src/cli/fuse-command';
import { runConfigOf } from '../src/lab/fuseSettings';
import { defaults, parseHash } from '../src/lab/settings';
import { resultRow, type FusionOutcome } from '../src/lab/fusionRun';
import { fusionRecord } from '../src/fusion/record';
import type { FuseResult } from '../src/fusion/fuse';
import type { RecoverySettings } from '../src/fusion/recipe';
import { effect, ladder, recipeDifference, spread } from '../src/fusion/ladder';
import { ladderTable } from '../src/cli/ladder-command';
import { LADDER_LANES, laneConfig } from '../src/lab/variants';

let rt: GpuRuntime;
let loaded: LoadedModel;
let mha: Model;
let hg: LayerHeadGrams[];
const IDS = [1, 403, 407, 261, 378, 280, 300, 29, 99, 417, 3];
const ctx = { training: false, fallback: false };
const heads = (preset: 'meanpool' | 'aligned' | 'dha', choices: Partial<HeadChoices> = {}): HeadRecipe => ({
  ...(presetRecipe(preset, ctx) as HeadRecipe),
  ...choices,
});

beforeAll(async () => {
  rt = await gpu();
  const { files, primary } = await filesFromPath(testdata('data/tinystories-mha.bin'));
  loaded = await loadModelFiles(files, { primary });
  mha = loaded.model;
  const text = await readFile(testdata('data/tinystories_sample.txt'), 'utf8');
  const seqs = calibrationSequences(calibrationTokens(loaded.tokenizer!, text, 512), 256);
  hg = await headGramsOf(mha, await calibrationGrams(rt, mha, seqs), rt);
});

const isRange = (g: number[]) => g.every((h, i) => h === g[0] + i);
const sizes = (p: number[][]) => new Set(p.map((g) => g.length));

describe('the presets are choices of one recipe', () => {
  it('mean-pool → aligned changes grouping, alignment and renormalisation; aligned → DHA changes K/V groups, sizes and allocation', () => {
    const diff = (a: HeadChoices, b: HeadChoices) => HEAD_CHOICES.map((c) => c.key).filter((k) => a[k] !== b[k]);
    expect(diff(PRESET_CHOICES.meanpool, PRESET_CHOICES.aligned)).toEqual(['grouping', 'align', 'renormalise']);
    expect(diff(PRESET_CHOICES.aligned, PRESET_CHOICES.dha)).toEqual(['kvGroups', 'groupSizes', 'allocation']);
    expect(changedChoices(heads('aligned'))).toEqual([]);
    expect(changedChoices(heads('aligned', { kvGroups: 'separate' }))).toEqual(['kvGroups']);
  });

  it('labels name the preset and only the choices that differ from it; DHA its own steps', () => {
    expect(recipeLabel(heads('meanpool'))).toBe('mean-pool');
    expect(recipeLabel(heads('aligned'))).toBe('aligned merge');
    expect(recipeLabel(heads('aligned', { renormalise: 'off' }))).toBe('aligned merge (no renorm)');
    expect(recipeLabel(heads('meanpool', { align: 'on', grouping: 'cost' }))).toBe('mean-pool (groups by cost, aligned)');
    expect(recipeLabel(heads('dha'))).toBe('DHA (100 own steps)');
    expect(recipeLabel({ ...heads('dha', { allocation: 'uniform' }), ownSteps: 0 })).toBe('DHA (uniform counts, 0 own steps)');
    expect(recipeLabel({ ...heads('aligned'), ownSteps: 5 })).toBe('aligned merge (5 own steps)');
  });

  it('own steps by default: DHA 100 (20 on a CPU fallback), none when end-to-end training follows; the others none', () => {
    expect((presetRecipe('dha', { training: false, fallback: false }) as HeadRecipe).ownSteps).toBe(100);
    expect((presetRecipe('dha', { training: false, fallback: true }) as HeadRecipe).ownSteps).toBe(20);
    expect((presetRecipe('dha', { training: true, fallback: true }) as HeadRecipe).ownSteps).toBe(0);
    expect((presetRecipe('aligned', { training: false, fallback: true }) as HeadRecipe).ownSteps).toBe(0);
  });
});

describe('combinations that cannot run are refused with the clash and what would work', () => {
  it('a joint K+V budget with shared groups; shared groups on a decoupled model; equal sizes that do not divide the heads', () => {
    const kv = mha.layers.map((l) => l.kv);
    expect(recipeProblem(heads('aligned', { kvSplit: 'joint' }), kv, 0.25)).toMatch(
      /joint K\+V budget needs separate K\/V groups.*choose separate K\/V groups or equal K and V totals/,
    );
    const decoupled = kv.map((l, i) => (i === 1 ? { ...l, vHeadOf: l.vHeadOf.map((h) => (h + 1) % l.vHeads) } : l));
    expect(recipeProblem(heads('aligned'), decoupled, 0.25)).toMatch(/layer 1 does not .*choose separate K\/V groups/);
    expect(recipeProblem(heads('aligned'), kv, 0.4)).toMatch(
      /equal group sizes .* 8 K heads, but at 40 % layer 1 keeps 3: choose free group sizes or a budget of 12\.5 %, 25 %, 50 %, 100 %/,
    );
    expect(recipeProblem(heads('aligned', { groupSizes: 'free' }), kv, 0.4)).toBeNull();
    expect(recipeProblem(heads('dha'), kv, 0.4)).toBeNull();
    expect(() => groupHeads(mha, hg, heads('aligned', { kvSplit: 'joint' }), 0.25)).toThrow(RangeError);
  });
});

describe('every choice is honoured by the one grouping search', () => {
  const budget = 0.25;
  it('shared K/V groups give one partition; separate ones may differ', () => {
    for (const g of groupHeads(mha, hg, heads('aligned'), budget).groups) expect(g.v).toEqual(g.k);
    const sep = groupHeads(mha, hg, heads('aligned', { kvGroups: 'separate' }), budget).groups;
    for (const g of sep) for (const p of [g.k, g.v]) expect(sizes(p)).toEqual(new Set([4]));
    expect(sep.some((g) => JSON.stringify(g.k) !== JSON.stringify(g.v))).toBe(true);
  });

  it('equal sizes keep every group of a layer one size; free sizes may not; uniform counts are the same in every layer', () => {
    const free = groupHeads(mha, hg, heads('aligned', { kvGroups: 'separate', groupSizes: 'free' }), budget).groups;
    expect(free.every((g) => g.k.length === 2 && g.v.length === 2)).toBe(true);
    expect(free.some((g) => sizes(g.k).size > 1 || sizes(g.v).size > 1)).toBe(true);
    const searched = groupHeads(mha, hg, heads('dha'), budget).groups;
    const total = (k: 'k' | 'v') => searched.reduce((s, g) => s + g[k].length, 0);
    expect([total('k'), total('v')]).toEqual([2 * mha.layers.length, 2 * mha.layers.length]);
  });

  it('contiguous grouping keeps index ranges, with equal or with free sizes (the best ranges by cost)', () => {
    const eq = groupHeads(mha, hg, heads('aligned', { grouping: 'contiguous' }), budget).groups;
    for (const g of eq)
      expect(g.k).toEqual([
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ]);
    const free = groupHeads(mha, hg, heads('dha', { grouping: 'contiguous' }), budget).groups;
    for (const g of free) for (const p of [g.k, g.v]) expect(p.every(isRange)).toBe(true);
    expect(free.some((g) => sizes(g.k).size > 1 || sizes(g.v).size > 1 || g.k.length !== 2)).toBe(true);
  });

  it('the mean-pool preset needs no Grams and is the plain average of contiguous groups; aligning it changes the weights', () => {
    const pooled = meanPool(mha, budget);
    const r = heads('meanpool');
    expect(() => groupHeads(mha, null, heads('meanpool', { grouping: 'cost' }), budget)).toThrow(/needs calibration Grams/);
    const same = mergeGroups(mha, groupHeads(mha, hg, r, budget).groups, hg, r);
    expect(same.layers[0].attn.wk).toEqual(pooled.layers[0].attn.wk);
    const aligned = mergeGroups(mha, groupHeads(mha, hg, r, budget).groups, hg, { ...r, align: 'on' });
    expect(aligned.layers[0].attn.wk).not.toEqual(pooled.layers[0].attn.wk);
  });

  it('at the full budget every recipe keeps every head and the logits of the original', () => {
    const ref = forwardRef(mha, IDS);
    for (const r of [heads('aligned'), heads('dha'), heads('meanpool', { align: 'on', renormalise: 'on' })]) {
      const { groups } = groupHeads(mha, hg, r, 1);
      const out = mergeGroups(mha, groups, hg, r);
      const y = forwardRef(out, IDS);
      let d = 0;
      for (let i = 0; i < y.length; i++) d = Math.max(d, Math.abs(y[i] - ref[i]));
      expect(d).toBeLessThan(1e-4);
    }
  });
});

describe('one run configuration, from the flags and from the page', () => {
  const adapter = { isFallbackAdapter: true, architecture: 'swiftshader' };
  const flags = (s: string) => parseArgs(s.split(' '), ['json', 'no-renorm']);
  it('flags: --method is the preset, each recipe flag changes one choice; the own steps follow the training', () => {
    const c = runConfigFromArgs(flags('--method aligned --kv-budget 0.25 --kv-groups separate --seed 3'), adapter);
    expect(c.recipe).toMatchObject({ ...PRESET_CHOICES.aligned, kvGroups: 'separate', preset: 'aligned', ownSteps: 0 });
    expect([c.budget, c.seed, c.train, c.calibrationTokens]).toEqual([0.25, 3, null, null]);
    expect(runConfigFromArgs(flags('--method dha --kv-budget 0.5'), adapter).recipe).toMatchObject({ ownSteps: 20, own: { tokensPerStep: 512, seqLen: 128 } });
    const t = runConfigFromArgs(flags('--method dha --kv-budget 0.5 --train-steps 8 --train-batch 4'), adapter);
    expect(t.recipe).toMatchObject({ ownSteps: 0 });
    expect(t.train).toMatchObject({ steps: 8, batch: 4 });
    expect(runConfigFromArgs(flags('--method aligned --kv-budget 0.5 --no-renorm'), adapter).recipe).toMatchObject({ renormalise: 'off' });
    expect(runConfigFromArgs(flags('--method meanpool --kv-budget 0.5 --align on --renorm on --steps 2'), adapter).recipe).toMatchObject({
      align: 'on',
      renormalise: 'on',
      ownSteps: 2,
    });
  });

  it('flags a method does not read, and values a choice does not take, are refused', () => {
    expect(() => runConfigFromArgs(flags('--method dha --kv-budget 0.5 --rope-pairs 2'), adapter)).toThrow(/--rope-pairs is for --method mla/);
    expect(() => runConfigFromArgs(flags('--method mla --kv-budget 0.5 --kv-groups shared'), adapter)).toThrow(/--kv-groups is for head-sharing recipes/);
    expect(() => runConfigFromArgs(flags('--method aligned --kv-budget 0.5 --group-sizes odd'), adapter)).toThrow(/--group-sizes must be one of equal, free/);
    // progressive fusion's flags and layer-local steps' flags belong to one kind of own steps each
    expect(() => runConfigFromArgs(flags('--method dha --kv-budget 0.5 --fusion-trains all'), adapter)).toThrow(/--fusion-trains is for --fusion progressive/);
    expect(() => runConfigFromArgs(flags('--method dha --kv-budget 0.5 --fusion progressive --fusion-params kv'), adapter)).toThrow(
      /--fusion-params is for layer-local own steps/,
    );
    const p = runConfigFromArgs(flags('--method aligned --kv-budget 0.5 --fusion progressive --steps 6 --fusion-trains all --operator-lr 0.05'), adapter);
    expect(p.recipe).toMatchObject({ preset: 'aligned', fusion: 'progressive', ownSteps: 6, own: { fusionTrains: 'all', operatorLr: 0.05 } });
    expect(recipeLabel(p.recipe)).toBe('aligned merge (progressive fusion, 6 fusion steps)');
  });

  it('page: every recipe row "preset" gives the method; one row changes one choice; own steps automatic unless unticked', () => {
    const train: RecoverySettings = { steps: 0, lr: 1e-3, params: 'all', loss: 'kl', batch: 8, seqLen: 64, evalEvery: 4 };
    const page = (v: Partial<ReturnType<typeof defaults>>, t = train) => {
      const r = runConfigOf({ ...defaults(true), ...v }, t, true);
      if ('problem' in r) throw new Error(r.problem);
      return r.config;
    };
    expect(page({ 'fuse.method': 'aligned' }).recipe).toEqual(presetRecipe('aligned', { training: false, fallback: true }));
    expect(page({ 'fuse.method': 'aligned', 'fuse.kvGroups': 'separate' }).recipe).toMatchObject({ kvGroups: 'separate', grouping: 'cost' });
    expect(page({ 'fuse.method': 'dha' }).recipe).toMatchObject({ ownSteps: 20 });
    expect(page({ 'fuse.method': 'dha' }, { ...train, steps: 5 }).recipe).toMatchObject({ ownSteps: 0 });
    expect(page({ 'fuse.method': 'dha', 'fuse.stepsAuto': false, 'fuse.steps': 3 }, { ...train, steps: 5 }).recipe).toMatchObject({ ownSteps: 3 });
    // the Fuse panel and the race calibrate and train on the same text by default
    for (const fb of [true, false]) expect(defaults(fb)['fuse.calTokens']).toBe(defaults(fb)['race.calTokens']);
    // a link that gives the own steps by hand turns "automatic" off
    expect(parseHash('#fuse.steps=3').given).toEqual({ 'fuse.steps': 3, 'fuse.stepsAuto': false });
    expect(parseHash('#fuse.steps=3&fuse.stepsAuto=1').given).toEqual({ 'fuse.steps': 3, 'fuse.stepsAuto': true });
  });
});

describe('one record', () => {
  it('the results row derives from the record: recoverySteps are the steps that ran, not the budget', () => {
    const recipe = { ...heads('dha'), ownSteps: 2 };
    const config = { recipe, budget: 0.5, seed: 1, calibrationTokens: 2048, train: { steps: 6, batch: 4, seqLen: 64 } };
    const result: FuseResult = {
      model: mha,
      recipe,
      label: recipeLabel(recipe),
      budget: 0.5,
      perLayer: mha.layers.map(() => ({ k: 4, v: 4 })),
      kvBytesPerToken: 100,
      calibrationTokens: 2048,
      trainSteps: 2 + 4,
      trainTokens: 6 * 256,
      ownSteps: 2,
      recoverySteps: 4,
      curve: [{ step: 2, tokens: 512, loss: null, ppl: 9 }],
      own: { history: [], checks: [], bestStep: 0 },
      fusion: null,
      mla: null,
      seconds: 1,
    };
    const record = fusionRecord({
      producer: 'test',
      sourceName: 'tinystories-mha',
      original: mha,
      config,
      result,
      before: 5,
      after: 6,
      evaluation: { tokens: 10, documents: 1, text: 't' },
      calibrationText: 'c',
      adapter: 'a',
    });
    expect(record).toMatchObject({ recoverySteps: 4, ownSteps: 2, trainSteps: 6, pplConverted: 9, kTotal: 4 * mha.layers.length, label: 'DHA (2 own steps)' });
    const ppl = { ppl: 6, nll: 0, tokens: 10, documents: 1, seconds: 0 };
    const o = { result, before: { ...ppl, ppl: 5 }, after: ppl, record, tokenizerFiles: [], evalName: 't' } as unknown as FusionOutcome;
    const row = resultRow(1, { id: 2, loaded }, o);
    expect([row.recoverySteps, row.ownSteps, row.trainSteps, row.kvBytesPerToken, row.label]).toEqual([4, 2, 6, 100, 'DHA (2 own steps)']);
    expect('maps' in row).toBe(false);
  });
});

describe('the ladder', () => {
  it('climbs from mean-pool to DHA one recipe choice per rung: the aligned merge and DHA are rungs of it', () => {
    const rungs = ladder({ training: true, fallback: true }, 6);
    expect(rungs[0].recipe).toMatchObject({ ...PRESET_CHOICES.meanpool, ownSteps: 0 });
    for (let i = 1; i < rungs.length; i++) expect(recipeDifference(rungs[i - 1].recipe, rungs[i].recipe)).toHaveLength(1);
    expect(rungs.map((r, i) => (i ? recipeDifference(rungs[i - 1].recipe, r.recipe)[0] : null))).toEqual([
      null,
      'grouping',
      'align',
      'renormalise',
      'kvGroups',
      'groupSizes',
      'allocation',
      'kvSplit',
      'ownSteps',
      'fusion',
      'fusionTrains',
    ]);
    const choices = (r: HeadRecipe) => HEAD_CHOICES.map((c) => r[c.key]);
    expect(choices(rungs[3].recipe)).toEqual(choices(heads('aligned')));
    expect(choices(rungs[6].recipe)).toEqual(choices(heads('dha')));
    expect(rungs.map((r) => recipeLabel(r.recipe))).toContain('DHA (joint K+V, 6 own steps)');
    expect(rungs.slice(-2).map((r) => recipeLabel(r.recipe))).toEqual([
      'DHA (joint K+V, progressive fusion, operators only, 6 fusion steps)',
      'DHA (joint K+V, progressive fusion, 6 fusion steps)',
    ]);
  });

  it("the race's ladder preset runs the same rungs as lanes, one choice apart", () => {
    const race = {
      budget: 0.25,
      seed: 1,
      calibrationTokens: 2048,
      ownSteps: 3,
      renormalise: true,
      train: { steps: 12, lr: 1e-3, params: 'all' as const, loss: 'kl' as const, batch: 8, seqLen: 64, evalEvery: 4 },
    };
    const lanes = LADDER_LANES.map((k) => laneConfig(k, race).recipe as HeadRecipe);
    const rungs = ladder({ training: true, fallback: true }, 3);
    const choices = (r: HeadRecipe) => [...HEAD_CHOICES.map((c) => r[c.key]), r.ownSteps, r.own.fusionTrains];
    expect(lanes.map(choices)).toEqual(rungs.map((r) => choices(r.recipe)));
  });

  it('a gap inside the spread of seeds is no measurable difference; one seed never measures one', () => {
    expect(effect({ values: [5.0, 5.2] }, { values: [4.5, 4.7] })).toEqual({ delta: expect.closeTo(-0.5, 12), measurable: true });
    expect(effect({ values: [5.0, 5.2] }, { values: [5.1, 5.3] }).measurable).toBe(false);
    expect(effect({ values: [5.0] }, { values: [4.0] }).measurable).toBe(false);
    expect(spread([3, 1, 2])).toEqual({ values: [3, 1, 2], mean: 2, min: 1, max: 3 });
    const row = (name: string, v: number[], e: ReturnType<typeof effect> | null) =>
      ({ name, converted: spread(v), trained: spread(v), effect: e }) as Parameters<typeof ladderTable>[0][number];
    const t = ladderTable([row('mean-pool', [7, 7.2], null), row('groups by cost', [7.1, 7.3], effect({ values: [7, 7.2] }, { values: [7.1, 7.3] }))], 2);
    expect(t).toContain('7.100 [7.000, 7.200]');
    expect(t).toMatch(/groups by cost .*no measurable difference \(\+0\.100\)/);
  });
});
