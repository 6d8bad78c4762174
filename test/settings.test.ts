// The page settings table: defaults per adapter, the hash written from it and read back exactly, values out of range and
// unknown keys ignored with notes, and the teacher's hide/lock/lesson.
import { describe, expect, it } from 'vitest';
import { CONTROLS, defaults, firstProblem, isHidden, isLocked, parseHash, settingProblem, writeHash, type PageState, type Values } from '../src/lab/settings';

describe('page settings in the address', () => {
  it("one validation path: a Run button checks values against the table's own limits", () => {
    const d = defaults(true);
    expect(settingProblem('fuse.calTokens', 1)).toBe('calibration tokens: 1 is outside 2 … 10000000');
    expect(settingProblem('fuse.train.lr', 0.7)).toBe('learning rate: 0.7 is outside 0.000001 … 0.5');
    expect(settingProblem('race.seed', 1.5)).toBe('seed: "1.5" is not a whole number');
    expect(settingProblem('race.evalDocs', Number.NaN)).toBe('held-out documents: "NaN" is not a number');
    expect(firstProblem(d, ['fuse.calTokens', 'fuse.seed'])).toBeNull();
    expect(firstProblem({ ...d, 'fuse.seed': -1, 'fuse.steps': 0.5 }, ['fuse.steps', 'fuse.seed'])).toBe('own steps: "0.5" is not a whole number');
  });

  it('every control has a default its own range allows, small on a CPU fallback', () => {
    for (const fallback of [true, false]) {
      const d = defaults(fallback);
      for (const c of CONTROLS)
        expect(parseHash(writeHash({ values: { [c.key]: d[c.key] }, hide: [], lock: [], lesson: '', tour: 0 })).notes, c.key).toEqual([]);
    }
    expect(defaults(true)['fuse.steps']).toBeLessThan(defaults(false)['fuse.steps'] as number);
    expect(defaults(true)['race.train.batch']).toBe(8);
    expect(defaults(false)['race.train.batch']).toBe(32);
  });

  it('a hash written from a state reads back to the same state', () => {
    const values: Values = {
      ...defaults(false),
      'fuse.method': 'dha',
      'fuse.steps': 40,
      'fuse.train.lr': 0.0025,
      'race.methods': ['dha', 'meanpool'],
      'sim.q': true,
      model: 'hf:roneneldan/TinyStories-1M',
      'eval.prompt': 'Once upon a time, & = ?',
    };
    const s: Omit<PageState, 'values'> & { values: Values } = {
      values,
      hide: ['race', 'fuse.seed'],
      lock: ['fuse.method'],
      lesson: 'Compare the methods.\nWhich keeps perplexity lowest?',
      tour: 2,
    };
    const hash = writeHash(s);
    const back = parseHash(hash);
    expect(back.notes).toEqual([]);
    expect({ ...defaults(true), ...back.given }).toEqual({ ...values, 'race.methods': ['meanpool', 'dha'] });
    expect([back.hide, back.lock, back.lesson, back.tour]).toEqual([s.hide, s.lock, s.lesson, 2]);
    expect(isHidden(back, 'race.budget')).toBe(true); // the whole panel
    expect(isHidden(back, 'fuse.seed')).toBe(true);
    expect(isHidden(back, 'fuse.steps')).toBe(false);
    expect(isLocked(back, 'fuse.method')).toBe(true);
  });

  it('values out of range, malformed values and unknown keys are ignored with a note each', () => {
    const r = parseHash(
      '#fuse.steps=-3&fuse.method=magic&sim.tokens=12.5&race.methods=dha,gqa&sim.q=maybe&frobnicate=1&fuse.seed=7&hide=fuse.nothing,eval&tour=x',
    );
    expect(r.given).toEqual({ 'fuse.seed': 7 });
    expect(r.hide).toEqual(['eval']);
    expect(r.notes).toEqual([
      'fuse.steps: -3 is outside 0 … 100000; the default is kept',
      'fuse.method: "magic" is not one of meanpool, aligned, dha, mla; the default is kept',
      'sim.tokens: "12.5" is not a whole number; the default is kept',
      'race.methods: "gqa" is not one of meanpool, by-cost, align-only, aligned, separate, free-sizes, dha, dha-e2e, dha-uniform, joint-e2e, dha-joint, dha-progressive, dha-progressive-all, mla; the default is kept',
      'sim.q: "maybe" is not true or false; the default is kept',
      'unknown setting "frobnicate" ignored',
      'hide: unknown control "fuse.nothing" ignored',
      'tour: "x" is not a step number; ignored',
    ]);
  });

  it("latent KV's settings: the core's defaults, a link that chooses them, and values the table refuses", () => {
    const d = defaults(true);
    expect([d['fuse.ropeSelect'], d['fuse.latentInit'], d['fuse.ropeAuto'], d['fuse.ropePairs']]).toEqual(['norm', 'activations', true, 1]);
    const link = writeHash({
      values: { ...d, 'fuse.method': 'mla', 'fuse.ropeSelect': 'uniform', 'fuse.latentInit': 'weights', 'fuse.ropeAuto': false, 'fuse.ropePairs': 2 },
      hide: [],
      lock: [],
      lesson: '',
      tour: 0,
    });
    expect(link).toContain('fuse.method=mla&');
    expect(link).toContain('fuse.ropeSelect=uniform&fuse.latentInit=weights&fuse.ropeAuto=0&fuse.ropePairs=2&');
    expect(parseHash(link).given).toMatchObject({
      'fuse.method': 'mla',
      'fuse.ropeSelect': 'uniform',
      'fuse.latentInit': 'weights',
      'fuse.ropeAuto': false,
      'fuse.ropePairs': 2,
    });
    const r = parseHash('#fuse.ropeSelect=middle&fuse.latentInit=svd&fuse.ropePairs=-1&fuse.method=mla');
    expect(r.given).toEqual({ 'fuse.method': 'mla' });
    expect(r.notes).toEqual([
      'fuse.ropeSelect: "middle" is not one of norm, high, low, uniform; the default is kept',
      'fuse.latentInit: "svd" is not one of weights, activations; the default is kept',
      'fuse.ropePairs: -1 is outside 0 … 4096; the default is kept',
    ]);
  });

  it('a value being typed (out of range) is left out of the hash', () => {
    const values = { ...defaults(true), 'fuse.steps': Number.NaN, 'fuse.calTokens': 1 };
    const hash = writeHash({ values, hide: [], lock: [], lesson: '', tour: 0 });
    expect(hash).not.toContain('fuse.steps=');
    expect(hash).not.toContain('fuse.calTokens=');
    expect(hash).toContain('fuse.seqLen=128');
  });
});
