#!/usr/bin/env node
// Tabulates scripts/kv-quant.sh's JSON lines: per label (seeds pooled: " seed N" removed) the held-out perplexity — mean
// [min, max] over the seeds, or one value — the KV bytes per token in 16-bit terms at the evaluated context, and its share
// of the 16-bit MHA cache (the first row whose label ends in ", 16 bits" and names no conversion, or the largest).
// Usage: node scripts/kv-table.mjs FILE.jsonl
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/kv-table.mjs FILE.jsonl');
  process.exit(2);
}
const rows = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const groups = new Map();
for (const r of rows) {
  const key = r.label.replace(/ seed \d+/, '');
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(r);
}
const bytes = (r) => r.kvCache.bytesPerToken16;
const full = Math.max(...rows.map(bytes));
const f3 = (x) => x.toFixed(3);
console.log('| run | held-out perplexity | KV bytes/token (16-bit terms) | of the 16-bit MHA cache |');
console.log('|---|---|---|---|');
for (const [key, rs] of groups) {
  const v = rs.map((r) => r.ppl);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const ppl = v.length > 1 ? `${f3(mean)} [${f3(Math.min(...v))}, ${f3(Math.max(...v))}]` : `${f3(mean)} (one run)`;
  const b = bytes(rs[0]);
  console.log(`| ${key} | ${ppl} | ${b.toFixed(0)} | ${((100 * b) / full).toFixed(1)} % |`);
}
