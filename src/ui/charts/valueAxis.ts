// The value (y) axis the line and trade-off charts share: linear, or logarithmic for perplexities (2.8 against 3.0 is
// invisible on a linear axis running to 25, and equal ratios look equal on a log axis). Pure: D3 computes the scale, the
// ticks and which ticks get a label (a log axis draws a grid line at every tick, a number at the readable ones).
import { scaleLinear, scaleLog } from 'd3';

export interface ValueAxis {
  log: boolean;
  /** Value → pixel; values a log axis cannot show (≤ 0) give NaN. */
  at: (v: number) => number;
  /** Grid lines, each with its label ('' for a line drawn without a number). */
  ticks: { value: number; label: string }[];
}

export interface ValueAxisOptions {
  log: boolean;
  /** Linear axis: include 0 (loss curves) or pad around the values (perplexity against KV bytes). */
  zero: boolean;
  count: number;
  format: (v: number) => string;
}

/** An axis over `values` (non-finite ignored) drawn from pixel range[0] (the lowest value) to range[1]. */
export function valueAxis(values: readonly number[], range: [number, number], o: ValueAxisOptions): ValueAxis {
  const finite = values.filter(Number.isFinite);
  if (o.log) {
    const positive = finite.filter((v) => v > 0);
    const lo = positive.length ? Math.min(...positive) : 1;
    const hi = positive.length ? Math.max(...positive) : 10;
    // A little room on both sides, in ratio; a single value gets ±10 %.
    const [a, b] = lo === hi ? [lo / 1.1, hi * 1.1] : [lo / 1.04, hi * 1.04];
    const s = scaleLog().domain([a, b]).range(range);
    const shown = s.tickFormat(o.count); // '' for the ticks D3 leaves unlabelled
    const ticks = s.ticks(o.count).map((value) => ({ value, label: shown(value) ? o.format(value) : '' }));
    return { log: true, at: (v) => (v > 0 ? s(v) : NaN), ticks };
  }
  const lo = o.zero ? Math.min(0, ...finite) : Math.min(...finite, Infinity) * 0.9 || 0;
  const hi = o.zero ? Math.max(lo + 1e-12, ...finite) : Math.max(lo + 1e-12, Math.max(...finite, 1) * 1.05);
  const s = scaleLinear().domain([lo, hi]).nice(o.count).range(range);
  return { log: false, at: (v) => s(v), ticks: s.ticks(o.count).map((value) => ({ value, label: o.format(value) })) };
}
