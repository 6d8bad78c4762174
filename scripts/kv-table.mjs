#!/usr/bin/env node
// Tabulates scripts/kv-quant.sh's JSON lines: per label (seeds pooled: " seed N" removed) the held-out perplexity — mean
// [min, max] over the seeds, or one value (a model evaluated through a cache trains nothing and takes no seed) — its change
// against the same model through the 16-bit cache, the KV bytes per token in 16-bit terms at the evaluated context, and
// their share of the largest cache in the files (the 16-bit MHA cache: give its file too).
// Usage: node scripts/kv-table.mjs FILE.jsonl [FILE.jsonl …]
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node scripts/kv-table.mjs FILE.jsonl [FILE.jsonl …]');
  process.exit(2);
}
const rows = files.flatMap((file) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l)),
);
const groups = new Map();
for (const r of rows) {
  const key = r.label.replace(/ seed \d+/, '');
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(r);
}
const bytes = (r) => r.kvCache.bytesPerToken16;
const full = Math.max(...rows.map(bytes));
const f4 = (x) => x.toFixed(4);
const meanOf = (rs) => rs.reduce((a, r) => a + r.ppl, 0) / rs.length;
console.log('| run | held-out perplexity | against 16 bits | KV bytes/token (16-bit terms) | of the 16-bit MHA cache |');
console.log('|---|---|---:|---:|---:|');
for (const [key, rs] of groups) {
  const v = rs.map((r) => r.ppl);
  const mean = meanOf(rs);
  const ppl = v.length > 1 ? `${f4(mean)} [${f4(Math.min(...v))}, ${f4(Math.max(...v))}]` : f4(mean);
  const base = groups.get(key.replace(/, \d+ bits.*$/, ', 16 bits'));
  const delta = base && base !== rs ? `${(100 * (mean / meanOf(base) - 1)).toFixed(2)} %` : '';
  const b = bytes(rs[0]);
  console.log(`| ${key} | ${ppl} | ${delta} | ${b.toFixed(0)} | ${((100 * b) / full).toFixed(1)} % |`);
}
