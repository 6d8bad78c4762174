#!/usr/bin/env node
// `npm test`: type check, lint and format check, unit and kernel tests in Node (vitest, WebGPU through Dawn), then e2e tests
// in headless Chromium (Playwright).
// It installs what the tests need that npm does not: on Debian as root, Chromium with apt-get when it is missing, and
// python3-torch (test/torch-parity.test.ts, test/torch-train.test.ts) likewise. Elsewhere it says exactly what is missing. Flags: --unit-only,
// --e2e-only; other arguments go to both runners.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit-only');
const e2eOnly = args.includes('--e2e-only');
const passThrough = args.filter((a) => a !== '--unit-only' && a !== '--e2e-only');

function say(msg) {
  console.log(`\n[headlab test] ${msg}`);
}

function run(cmd, cmdArgs, env = process.env) {
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: root, env });
  if (r.error) {
    console.error(`[headlab test] could not run ${cmd}: ${r.error.message}`);
    return 1;
  }
  return r.status ?? 1;
}

function chromiumPath() {
  if (process.env.CHROMIUM_PATH) return existsSync(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : null;
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync) ?? null;
}

let aptUpdated = false;
/**
 * On Debian as root, installs a Debian package the tests need (the index refreshed once per run) and returns true; exits
 * when apt-get fails; returns false where it cannot (not root, no apt-get), leaving the caller to say what is missing.
 */
function aptInstall(pkg, what, never) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) return false;
  say(`${what} is missing: installing Debian's ${pkg} with apt-get (tests never download ${never}).`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if ((!aptUpdated && run('apt-get', ['update'], env) !== 0) || run('apt-get', ['install', '-y', '--no-install-recommends', pkg], env) !== 0) {
    console.error(`[headlab test] apt-get could not install ${pkg}. Install it by hand: apt-get install -y --no-install-recommends ${pkg}`);
    process.exit(1);
  }
  aptUpdated = true;
  return true;
}

/** Debian's Chromium: the browser of the e2e tests, and the SwiftShader (CPU Vulkan) that Dawn uses without a GPU. */
function ensureChromium() {
  let found = chromiumPath();
  if (found) return found;
  if (aptInstall('chromium', 'Chromium', 'browsers')) found = chromiumPath();
  if (!found) {
    console.error(
      '[headlab test] Missing: a Chromium binary (looked for /usr/bin/chromium and /usr/bin/chromium-browser).\n' +
        '  On Debian/Ubuntu as root:  apt-get install -y chromium\n' +
        '  Elsewhere: install Chromium or Chrome and set CHROMIUM_PATH=/path/to/chrome.\n' +
        '  It runs the e2e tests and, on machines without a GPU driver, provides SwiftShader for WebGPU in Node.',
    );
    process.exit(1);
  }
  return found;
}

/** A Python that imports torch, found as scripts/torch.sh finds it: $HEADLAB_PYTHON, then python3, then /usr/bin/python3. */
function torchPython() {
  for (const py of [process.env.HEADLAB_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

/** Debian's python3-torch: test/torch-parity.test.ts and torch-train.test.ts run the lab's models in PyTorch (python/headlab_torch). */
function ensureTorch() {
  if (torchPython()) return;
  aptInstall('python3-torch', 'PyTorch', 'packages otherwise');
  if (!torchPython()) {
    console.error(
      '[headlab test] Missing: a Python that imports torch (looked at $HEADLAB_PYTHON, python3 and /usr/bin/python3); test/torch-parity.test.ts and test/torch-train.test.ts will fail.\n' +
        '  On Debian/Ubuntu as root:  apt-get install -y --no-install-recommends python3-torch\n' +
        '  Elsewhere: pip install torch, or set HEADLAB_PYTHON=/path/to/python that has it.',
    );
  }
}

const chromium = ensureChromium();
const env = { ...process.env, CHROMIUM_PATH: chromium };
let failed = 0;
if (!e2eOnly) {
  ensureTorch();
  say('type check (tsc, strict)');
  failed |= run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], env) !== 0 ? 4 : 0;
  say('lint (ESLint) and format (Prettier --check; `npx prettier --write .` fixes it)');
  failed |= run(process.execPath, [path.join(root, 'node_modules/eslint/bin/eslint.js'), '.'], env) !== 0 ? 8 : 0;
  failed |= run(process.execPath, [path.join(root, 'node_modules/prettier/bin/prettier.cjs'), '--check', '--log-level', 'warn', '.'], env) !== 0 ? 8 : 0;
  say('unit and kernel tests (vitest, Node, WebGPU through Dawn)');
  failed |= run(process.execPath, [path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...passThrough], env) !== 0 ? 1 : 0;
}
if (!unitOnly) {
  say(`e2e tests (Playwright, headless ${chromium} --enable-unsafe-webgpu)`);
  failed |= run(process.execPath, [path.join(root, 'node_modules/@playwright/test/cli.js'), 'test', ...passThrough], env) !== 0 ? 2 : 0;
}
if (failed) {
  say(
    `FAILED: ${[failed & 4 ? 'tsc' : '', failed & 8 ? 'lint/format' : '', failed & 1 ? 'vitest' : '', failed & 2 ? 'playwright' : ''].filter(Boolean).join(' and ')}`,
  );
  process.exit(1);
}
say('all tests passed');
