// Where Dawn (the `webgpu` npm package) finds a Vulkan driver in Node.
// A driver the user pinned (VK_DRIVER_FILES / VK_ICD_FILENAMES, or HEADLAB_WEBGPU_BACKEND=as-is) is used as it is. Drivers
// merely installed in the system's icd.d folders are tried first (a child process asks Dawn for an adapter; the answer is
// cached per set of ICD files); when they give none — Debian's mesa-vulkan-drivers on a machine without that GPU installs
// intel/radeon ICD files — or when there are none, we fall back to Chromium's SwiftShader (Debian's /usr/lib/chromium),
// which needs its libvulkan on LD_LIBRARY_PATH before the process starts: callers re-execute node with the environment
// this returns.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Mesa's lavapipe is rejected by Dawn, so an installed lavapipe ICD does not count as a driver.
const REJECTED_ICD = /lvp|lavapipe/i;
export const SWIFTSHADER_DIRS = ['/usr/lib/chromium', '/usr/lib64/chromium', '/usr/lib/chromium-browser'];

/** The icd.d folders the Vulkan loader searches (XDG_CONFIG_DIRS, then XDG_DATA_DIRS, as the loader does). */
export function icdDirs(env = process.env) {
  const config = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':').filter(Boolean);
  const data = (env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':').filter(Boolean);
  return [...new Set([...config, '/etc', ...data].map((d) => path.join(d, 'vulkan', 'icd.d')))];
}

/** The ICD files the user pinned in the environment, or []. */
function pinnedDrivers(env) {
  return [env.VK_DRIVER_FILES, env.VK_ICD_FILENAMES, env.VK_ADD_DRIVER_FILES].filter(Boolean).join(':').split(':').filter(Boolean);
}

/** The ICD files of Vulkan drivers visible to this process: pinned ones, else those installed in icd.d folders. */
export function systemVulkanDrivers(env = process.env) {
  const pinned = pinnedDrivers(env);
  if (pinned.length) return pinned;
  const found = [];
  for (const dir of icdDirs(env)) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.json') && !REJECTED_ICD.test(f)) found.push(path.join(dir, f));
  }
  return found;
}

function swiftshaderDir(env) {
  return (env.HEADLAB_SWIFTSHADER_DIR ? [env.HEADLAB_SWIFTSHADER_DIR] : SWIFTSHADER_DIRS).find((d) => existsSync(`${d}/vk_swiftshader_icd.json`));
}

/**
 * Whether Dawn gets an adapter under `env`, asked in a child process (Dawn reads the Vulkan environment only at start).
 * Returns the adapter's description, or null.
 */
export function probeAdapter(env) {
  let webgpu;
  try {
    webgpu = createRequire(import.meta.url).resolve('webgpu');
  } catch {
    return null;
  }
  const script =
    `const m = await import(${JSON.stringify(pathToUrl(webgpu))}); const gpu = m.create([]); ` +
    `const a = await gpu.requestAdapter(); const i = a && (a.info ?? {}); ` +
    `process.stdout.write(a ? JSON.stringify({ vendor: i.vendor ?? '', architecture: i.architecture ?? '', fallback: !!(a.isFallbackAdapter ?? i.isFallbackAdapter) }) : 'null'); process.exit(0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return null;
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null');
  } catch {
    return null;
  }
}

function pathToUrl(p) {
  return new URL(`file://${path.resolve(p)}`).href;
}

/** The probe's answer for these ICD files, cached in the temp folder (keyed by the files, their sizes and times). */
function cachedProbe(drivers, env, probe) {
  const key = createHash('sha256')
    .update(JSON.stringify(drivers.map((f) => [f, existsSync(f) ? statSync(f).mtimeMs : 0, existsSync(f) ? statSync(f).size : 0])))
    .update(process.execPath)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(tmpdir(), 'headlab-vulkan-probe');
  const file = path.join(dir, `${key}.json`);
  if (probe === probeAdapter && existsSync(file)) {
    try {
      return JSON.parse(readFileSync(file, 'utf8')).adapter;
    } catch {
      /* probe again */
    }
  }
  const adapter = probe(env);
  if (probe === probeAdapter) {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, JSON.stringify({ drivers, adapter }));
    } catch {
      /* a read-only temp folder only costs a probe next time */
    }
  }
  return adapter;
}

/**
 * The environment under which Dawn gets an adapter: `{ env, backend, changed, note }`.
 * backend is 'vulkan' (a pinned driver, or installed drivers that give an adapter), 'swiftshader' (our fallback) or 'none'
 * (nothing found; the caller reports what to install). note is one line to print when the installed drivers gave no adapter
 * and SwiftShader stands in. `probe` (for tests) replaces the child-process adapter check.
 */
export function webgpuEnvironment(env = process.env, probe = probeAdapter) {
  if (env.HEADLAB_WEBGPU_BACKEND === 'as-is' || pinnedDrivers(env).length > 0) return { env, backend: 'vulkan', changed: false, note: null };
  const installed = systemVulkanDrivers(env);
  let note = null;
  if (installed.length > 0) {
    if (cachedProbe(installed, env, probe)) return { env, backend: 'vulkan', changed: false, note: null };
    note = `the installed Vulkan drivers (${installed.map((f) => path.basename(f)).join(', ')}) give WebGPU no adapter; using Chromium's SwiftShader (CPU) instead`;
  }
  const dir = swiftshaderDir(env);
  if (!dir) return { env, backend: 'none', changed: false, note };
  const ld = env.LD_LIBRARY_PATH ? `${dir}:${env.LD_LIBRARY_PATH}` : dir;
  const already = env.VK_ICD_FILENAMES === `${dir}/vk_swiftshader_icd.json` && (env.LD_LIBRARY_PATH ?? '').split(':').includes(dir);
  // Mesa's device-selection layer (an implicit layer mesa-vulkan-drivers installs) has nothing to choose among with one
  // SwiftShader device, and prints XDG_RUNTIME_DIR errors on machines without a display: it is turned off.
  return {
    env: { ...env, VK_ICD_FILENAMES: `${dir}/vk_swiftshader_icd.json`, LD_LIBRARY_PATH: ld, NODEVICE_SELECT: env.NODEVICE_SELECT ?? '1' },
    backend: 'swiftshader',
    changed: !already,
    note,
  };
}

export const NO_DRIVER_HELP =
  "No Vulkan driver was found for WebGPU in Node. Install a GPU driver with Vulkan support, or Debian's Chromium " +
  '(`apt-get install -y chromium`, whose SwiftShader headlab uses as a CPU fallback).';
