#!/usr/bin/env node
// A markdown table from the runs `headlab ladder --jsonl FILE` (scripts/ladder.sh) appended, in the ladder's order: per rung
// the converted and the trained held-out perplexity over its seeds (mean [min, max]) and the effect of its change against the
// row before — "no measurable difference" when the two ranges overlap, "one seed" when either has one. Works on a file a
// run is still writing. Usage: node scripts/ladder-table.mjs FILE.jsonl
import { readFileSync } from 'node:fs';

const runs = readFileSync(process.argv[2], 'utf8')
  .trim()
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const order = [];
const by = new Map();
// One row per recipe: a rung run at several own-step counts (scripts/progressive.sh) is one row per count.
for (const r of runs) {
  const key = `${r.rung}\u0000${r.label}`;
  if (!by.has(key)) {
    by.set(key, []);
    order.push(key);
  }
  by.get(key).push(r);
}
const f = (x) => x.toFixed(3);
const spread = (v) => ({ mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v), max: Math.max(...v), n: v.length });
const range = (s) => (s.n > 1 ? `${f(s.mean)} [${f(s.min)}, ${f(s.max)}]` : `${f(s.mean)} (one seed)`);
console.log('| rung | recipe (label) | converted | trained: mean [min, max] | seeds | effect of the change |');
console.log('|---|---|---:|---:|---:|---|');
let prev = null;
for (const key of order) {
  const rs = by.get(key);
  const name = rs[0].rung;
  const c = spread(rs.map((r) => r.converted));
  const t = spread(rs.map((r) => r.trained));
  let effect = '';
  if (prev && name !== 'latent') {
    const d = t.mean - prev.mean;
    const sign = d > 0 ? '+' : '';
    effect =
      prev.n < 2 || t.n < 2
        ? `${sign}${f(d)} (one seed)`
        : t.max < prev.min || t.min > prev.max
          ? `**${sign}${f(d)}**`
          : `no measurable difference (${sign}${f(d)})`;
  }
  console.log(`| ${name} | ${rs[0].label} | ${range(c)} | ${range(t)} | ${t.n} | ${effect} |`);
  if (name !== 'latent') prev = t;
}
