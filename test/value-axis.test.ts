// The charts' value axis (src/ui/charts/valueAxis.ts): linear from zero (loss), padded (perplexity against KV bytes), or
// logarithmic, where close low perplexities stand apart and only readable ticks carry a number.
import { describe, expect, it } from 'vitest';
import { valueAxis } from '../src/ui/charts/valueAxis';

const fmt = (v: number) => String(Number(v.toPrecision(3)));

describe('value axis', () => {
  it('linear: from zero, or padded around the values', () => {
    const a = valueAxis([2.8, 3.0, 25], [200, 0], { log: false, zero: true, count: 5, format: fmt });
    expect(a.log).toBe(false);
    expect(a.at(0)).toBe(200);
    expect(a.ticks[0]).toEqual({ value: 0, label: '0' });
    expect(a.ticks.every((t) => t.label !== '')).toBe(true);
    const b = valueAxis([4, 5], [200, 0], { log: false, zero: false, count: 6, format: fmt });
    expect(b.at(4)).toBeLessThan(200);
    expect(b.at(4)).toBeGreaterThan(b.at(5));
  });

  it('log: 2.8 and 3.0 far apart beside 25, ticks labelled sparingly, non-positive values not drawn', () => {
    const lin = valueAxis([2.8, 3.0, 25], [200, 0], { log: false, zero: true, count: 5, format: fmt });
    const log = valueAxis([2.8, 3.0, 25], [200, 0], { log: true, zero: true, count: 5, format: fmt });
    expect(log.log).toBe(true);
    expect(log.at(2.8) - log.at(3.0)).toBeGreaterThan(3 * (lin.at(2.8) - lin.at(3.0)));
    expect(log.at(2.8)).toBeLessThanOrEqual(200);
    expect(log.at(25)).toBeGreaterThanOrEqual(0);
    expect(log.ticks.map((t) => t.value)).toContain(10);
    const labelled = log.ticks.filter((t) => t.label);
    expect(labelled.length).toBeGreaterThan(1);
    expect(labelled.length).toBeLessThan(log.ticks.length); // grid lines without numbers between
    expect(Number.isNaN(log.at(0))).toBe(true);
    // a narrow range still gets several labelled ticks
    const narrow = valueAxis([2.81, 2.9, 3.02], [200, 0], { log: true, zero: true, count: 5, format: fmt });
    expect(narrow.ticks.filter((t) => t.label).length).toBeGreaterThanOrEqual(2);
  });
});
