#!/usr/bin/env node
// `npx headlab …`: runs the bundled command, building it first when it is missing or older than the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundle = path.join(root, 'dist/cli/headlab.mjs');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const sourcesDir = ['src', 'shaders'].map((d) => path.join(root, d)).filter(existsSync);
// The bundle also holds scripts/vulkan-env.mjs (the driver choice).
const sourceTime = Math.max(...sourcesDir.map(newest), statSync(path.join(root, 'scripts/vulkan-env.mjs')).mtimeMs);
const stale = !existsSync(bundle) || sourceTime > statSync(bundle).mtimeMs;
if (stale) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts/build-cli.mjs'), '--quiet'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('headlab: building dist/cli/headlab.mjs failed (run `npm ci` first)');
    process.exit(1);
  }
}
await import(pathToFileURL(bundle).href);
