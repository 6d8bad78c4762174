// The recovery race read at equal training tokens (src/lab/raceLanes.ts): DHA's own steps must fit in the budget every lane
// shares, each lane's total tokens, the common intermediate reading, and a winner only where every lane was read at the same
// tokens; races saved before lanes existed come back with their methods as lanes.
import { describe, expect, it } from 'vitest';
import {
  bestAtEqualTokens,
  bestBeyondSpread,
  commonTokens,
  laneTokens,
  midpointTokens,
  pplAt,
  raceBudgetProblem,
  seedCurve,
  seedSpread,
} from '../src/lab/raceLanes';
import { raceCsv, restoredRace, type Race } from '../src/lab/raceStore';
import type { RaceSettings } from '../src/lab/variants';
import type { RecoverySettings } from '../src/fusion/recipe';

// DHA's own steps see as many tokens as a training step: 8 × 64 = 512.
const shared = (dhaSteps: number, trainSteps: number): RaceSettings => ({
  budget: 0.25,
  calibrationTokens: 8192,
  ownSteps: dhaSteps,
  seed: 1,
  train: { steps: trainSteps, lr: 1e-3, params: 'all', loss: 'kl', batch: 8, seqLen: 64, evalEvery: 1 },
  renormalise: true,
});
const curve = (pts: [number, number | null][]) => pts.map(([tokens, ppl], step) => ({ step, tokens, loss: null, ppl }));

describe('the race at equal training tokens', () => {
  it("refuses DHA's own steps beyond the shared budget, naming the numbers to change", () => {
    expect(raceBudgetProblem(shared(10, 12), ['meanpool', 'dha', 'dha-e2e'])).toBeNull();
    expect(raceBudgetProblem(shared(4, 4), ['dha'])).toBeNull(); // all of the budget in DHA's own steps
    const p = raceBudgetProblem(shared(10, 4), ['aligned', 'dha']);
    expect(p).toContain('10 × 512 = 5,120 tokens');
    expect(p).toContain('4 training steps × 8 × 64 = 2,048 tokens');
    expect(p).toContain('training steps to at least 10');
    expect(p).toContain("DHA's own steps to at most 4");
    // lanes without DHA's own steps spend nothing out of the budget
    expect(raceBudgetProblem(shared(10, 4), ['meanpool', 'aligned', 'dha-e2e'])).toBeNull();
    expect(raceBudgetProblem({ ...shared(1, 1), train: null as unknown as RecoverySettings }, ['dha'])).toContain('at least one training step');
  });

  it("reads each lane's total and its perplexity at the tokens every lane measured", () => {
    const meanpool = {
      curve: curve([
        [0, 20],
        [512, 9],
        [1024, 7],
        [1536, 6],
        [2048, 5.5],
      ]),
      tokens: 2048,
    };
    const dha = {
      curve: curve([
        [1024, 6.8],
        [1536, 6.1],
        [2048, 5.6],
      ]),
      tokens: 2048,
    };
    const e2e = {
      curve: curve([
        [0, 12],
        [512, 8],
        [1024, 6.5],
        [1536, null],
        [2048, 5.4],
      ]),
    };
    expect(laneTokens(e2e)).toBe(2048);
    expect(laneTokens({ curve: [] })).toBeNull();
    expect(commonTokens([meanpool, dha, e2e], 2048)).toEqual([1024]);
    expect(commonTokens([meanpool, dha], 2048)).toEqual([1024, 1536]);
    expect(midpointTokens([meanpool, dha, e2e], 2048)).toBe(1024);
    expect(midpointTokens([meanpool], 2048)).toBe(1024); // 512, 1024, 1536: nearest half
    expect(
      midpointTokens(
        [
          dha,
          {
            curve: curve([
              [0, 3],
              [2048, 2],
            ]),
          },
        ],
        2048,
      ),
    ).toBeNull();
    expect(pplAt(dha, 1536)).toBe(6.1);
    expect(pplAt(e2e, 1536)).toBeNull();
  });

  it('names a winner only among lanes read at the same tokens', () => {
    expect(bestAtEqualTokens([5.5, 5.6, 5.4], [2048, 2048, 2048])).toBe(2);
    expect(bestAtEqualTokens([5.5, null, 5.4], [2048, null, 2048])).toBe(2); // a lane still running does not count
    expect(bestAtEqualTokens([5.5, 5.4], [2048, null])).toBeNull(); // a value whose tokens are unknown
    expect(bestAtEqualTokens([3.0, 2.84], [6144, 7168])).toBeNull(); // DHA's old figure read at more tokens
    expect(bestAtEqualTokens([5.5, null], [2048, 2048])).toBeNull();
  });

  it('a race saved before lanes existed comes back with its methods as lanes', () => {
    const old = {
      runId: 1,
      model: 'demo',
      budget: 0.25,
      settings: shared(10, 12),
      pplOriginal: 4.4,
      kvOriginal: 1024,
      evalText: 'sample',
      current: 1,
      lanes: [
        {
          method: 'aligned',
          status: 'done',
          curve: curve([
            [0, 9],
            [6144, 3.0],
          ]),
          pplConverted: 9,
          pplAfter: 3.0,
          kvBytesPerToken: 256,
          perLayer: null,
          seconds: 1,
          rowId: 1,
          error: null,
        },
        {
          method: 'dha',
          status: 'done',
          curve: curve([
            [5120, 4.8],
            [11264, 2.84],
          ]),
          pplConverted: 4.8,
          pplAfter: 2.84,
          kvBytesPerToken: 256,
          perLayer: null,
          seconds: 2,
          rowId: 2,
          error: null,
        },
      ],
    } as unknown as Race;
    const race = restoredRace(old);
    expect(race.lanes.map((l) => [l.key, l.label, l.tokens])).toEqual([
      ['aligned', 'aligned merge', 6144],
      ['dha', 'DHA', 11264],
    ]);
    expect(
      bestAtEqualTokens(
        race.lanes.map((l) => l.pplAfter),
        race.lanes.map((l) => l.tokens),
      ),
    ).toBeNull();
    expect(raceCsv(race).split('\n')[0]).toBe('lane,method,seed,step,training_tokens,loss,heldout_ppl');
    expect(raceCsv(race).split('\n')[3]).toBe('dha,dha,1,0,5120,,4.8');
  });

  it('several seeds: the mean line and its band, and a best lane only beyond the spread of seeds', () => {
    const a = {
      curve: curve([
        [0, 9],
        [512, 7],
        [1024, 6],
      ]),
    };
    const b = {
      curve: curve([
        [0, 9],
        [512, 8],
        [1024, 6.4],
      ]),
    };
    expect(seedCurve([a, b])).toEqual([
      { tokens: 0, ppl: 9, lo: 9, hi: 9 },
      { tokens: 512, ppl: 7.5, lo: 7, hi: 8 },
      { tokens: 1024, ppl: expect.closeTo(6.2, 12), lo: 6, hi: 6.4 },
    ]);
    const s = (...v: number[]) => seedSpread(v);
    expect(bestBeyondSpread([s(5.0, 5.1), s(5.3, 5.4)], [2048, 2048])).toBe(0);
    expect(bestBeyondSpread([s(5.0, 5.35), s(5.3, 5.4)], [2048, 2048])).toBeNull(); // the ranges overlap: no measurable difference
    expect(bestBeyondSpread([s(5.0), s(5.3)], [2048, 2048])).toBe(0); // one seed: the lowest, its spread unknown
    expect(bestBeyondSpread([s(5.0, 5.1), s(5.3, 5.4)], [2048, 4096])).toBeNull(); // read at different tokens
  });
});
