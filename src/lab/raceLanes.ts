// How the recovery race reads its lanes at equal training tokens, without UI state: whether DHA's own steps fit in the token
// budget every lane shares, each lane's total training tokens, and the common token counts at which every lane's held-out
// perplexity was measured (so that a table compares lanes only where they were read at the same tokens). Pure (tested in
// Node).
import type { TrainPoint } from '../train/trainer';
import { laneConfig, type LaneKey, type RaceSettings } from './variants';
import { spread } from '../fusion/ladder';

/** A lane as these functions read it: its curve, and its total training tokens once finished (null before). */
export interface LaneReading {
  curve: Pick<TrainPoint, 'tokens' | 'ppl'>[];
  tokens?: number | null;
}

const n = (x: number) => x.toLocaleString('en');

/**
 * Why a race cannot start with these lanes, or null: every lane trains on the same budget of `train.steps` steps of
 * batch × sequence tokens, and the DHA lanes that take their own layer-local steps (settings.steps of tokensPerStep tokens)
 * spend them out of it, so those must fit.
 */
export function raceBudgetProblem(settings: RaceSettings, lanes: readonly LaneKey[]): string | null {
  const train = settings.train;
  if (!train || train.steps < 1) return 'The race trains each converted model: give at least one training step.';
  const own = lanes.map((k) => laneConfig(k, settings).recipe).flatMap((r) => (r.family === 'heads' && r.ownSteps > 0 ? [r] : []));
  if (!own.length) return null;
  const perStep = train.batch * train.seqLen;
  const budget = train.steps * perStep;
  const ownTokens = Math.max(...own.map((r) => r.ownSteps * r.own.tokensPerStep));
  if (ownTokens <= budget) return null;
  const steps = Math.max(...own.map((r) => r.ownSteps));
  const tokensPerStep = own[0].own.tokensPerStep;
  return (
    `DHA's own steps (${n(steps)} × ${n(tokensPerStep)} = ${n(ownTokens)} tokens) do not fit in the training budget that every lane ` +
    `shares (${n(train.steps)} training steps × ${train.batch} × ${train.seqLen} = ${n(budget)} tokens): raise the training steps to at least ` +
    `${n(Math.ceil(ownTokens / perStep))}, or lower DHA's own steps to at most ${n(Math.floor(budget / tokensPerStep))}.`
  );
}

/** A lane's total training tokens (its conversion's own included): as recorded when it finished, else its curve's last point. */
export function laneTokens(lane: LaneReading): number | null {
  if (lane.tokens !== undefined && lane.tokens !== null) return lane.tokens;
  return lane.curve.length ? lane.curve[lane.curve.length - 1].tokens : null;
}

/** The held-out perplexity a lane measured at exactly `tokens` training tokens, or null. */
export function pplAt(lane: LaneReading, tokens: number): number | null {
  return lane.curve.find((p) => p.tokens === tokens && p.ppl !== null)?.ppl ?? null;
}

/** The token counts strictly between 0 and `total` at which every lane measured its held-out perplexity, ascending. */
export function commonTokens(lanes: readonly LaneReading[], total: number): number[] {
  if (!lanes.length) return [];
  const measured = lanes.map((l) => new Set(l.curve.filter((p) => p.ppl !== null).map((p) => p.tokens)));
  return [...measured[0]].filter((t) => t > 0 && t < total && measured.every((m) => m.has(t))).sort((a, b) => a - b);
}

/** The common intermediate reading nearest half the total (the earlier of two as near), or null when there is none. */
export function midpointTokens(lanes: readonly LaneReading[], total: number): number | null {
  let best: number | null = null;
  for (const t of commonTokens(lanes, total)) if (best === null || Math.abs(t - total / 2) < Math.abs(best - total / 2)) best = t;
  return best;
}

/**
 * The index of the lowest of `values`, when at least two are known and every lane was read at the same tokens (else null:
 * a winner read at more tokens than the others is no winner).
 */
export function bestAtEqualTokens(values: readonly (number | null)[], tokens: readonly (number | null)[]): number | null {
  const known = values.map((v, i) => [v, i] as const).filter((x): x is readonly [number, number] => x[0] !== null);
  if (known.length < 2) return null;
  const t = known.map(([, i]) => tokens[i]);
  if (t.some((x) => x === null || x !== t[0])) return null;
  return known.reduce((a, b) => (b[0] < a[0] ? b : a))[1];
}

/** A reading over seeds: its mean, lowest and highest, and how many seeds (src/fusion/ladder.ts `spread`). */
export interface SeedSpread {
  mean: number;
  min: number;
  max: number;
  n: number;
}

export function seedSpread(values: readonly number[]): SeedSpread | null {
  if (!values.length) return null;
  const { mean, min, max } = spread(values);
  return { mean, min, max, n: values.length };
}

/**
 * A lane's curve over its seeds: at every token count where each seed measured held-out perplexity, the mean (the line) and
 * the lowest and highest (the band).
 */
export function seedCurve(runs: readonly LaneReading[]): { tokens: number; ppl: number; lo: number; hi: number }[] {
  if (!runs.length) return [];
  const at = runs.map((r) => new Map(r.curve.filter((p) => p.ppl !== null).map((p) => [p.tokens, p.ppl!])));
  return [...at[0].keys()]
    .filter((t) => at.every((m) => m.has(t)))
    .sort((a, b) => a - b)
    .map((t) => {
      const s = seedSpread(at.map((m) => m.get(t)!))!;
      return { tokens: t, ppl: s.mean, lo: s.min, hi: s.max };
    });
}

/**
 * The best lane where it is measurably best: the lowest mean among lanes read at the same tokens, and — when the lanes ran
 * several seeds — only if its highest seed is below every other lane's lowest (a gap inside the spread of seeds is no
 * measurable difference). With one seed a lane the lowest is marked (the spread is unknown; the table says so).
 */
export function bestBeyondSpread(spreads: readonly (SeedSpread | null)[], tokens: readonly (number | null)[]): number | null {
  const best = bestAtEqualTokens(
    spreads.map((s) => s?.mean ?? null),
    tokens,
  );
  if (best === null) return null;
  const b = spreads[best]!;
  if (b.n < 2) return best;
  return spreads.every((s, i) => i === best || s === null || b.max < s.min) ? best : null;
}
