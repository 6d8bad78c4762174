// Where Dawn (the `webgpu` npm package) finds a Vulkan driver in Node.
// A real driver (an ICD named in VK_DRIVER_FILES / VK_ICD_FILENAMES, or installed in the system's icd.d folders) is never
// overridden. Without one, we fall back to Chromium's SwiftShader (Debian's /usr/lib/chromium), which needs its libvulkan on
// LD_LIBRARY_PATH before the process starts — so callers re-execute node with the environment this returns.
import { existsSync, readdirSync } from 'node:fs';

const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/local/etc/vulkan/icd.d'];
// Mesa's lavapipe is rejected by Dawn, so an installed lavapipe ICD does not count as a driver.
const REJECTED_ICD = /lvp|lavapipe/i;
export const SWIFTSHADER_DIRS = ['/usr/lib/chromium', '/usr/lib64/chromium', '/usr/lib/chromium-browser'];

/** The ICD files of real Vulkan drivers visible to this process. */
export function systemVulkanDrivers(env = process.env) {
  const named = [env.VK_DRIVER_FILES, env.VK_ICD_FILENAMES, env.VK_ADD_DRIVER_FILES].filter(Boolean).join(':');
  if (named) return named.split(':').filter(Boolean);
  const found = [];
  for (const dir of ICD_DIRS) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.json') && !REJECTED_ICD.test(f)) found.push(`${dir}/${f}`);
  }
  return found;
}

/**
 * The environment under which Dawn gets an adapter: `{ env, backend, changed }`.
 * backend is 'vulkan' (a real driver is configured), 'swiftshader' (our fallback) or 'none' (nothing found; the
 * caller reports what to install).
 */
export function webgpuEnvironment(env = process.env) {
  if (env.HEADLAB_WEBGPU_BACKEND === 'as-is' || systemVulkanDrivers(env).length > 0) {
    return { env, backend: 'vulkan', changed: false };
  }
  const dir = (env.HEADLAB_SWIFTSHADER_DIR ? [env.HEADLAB_SWIFTSHADER_DIR] : SWIFTSHADER_DIRS).find((d) =>
    existsSync(`${d}/vk_swiftshader_icd.json`),
  );
  if (!dir) return { env, backend: 'none', changed: false };
  const ld = env.LD_LIBRARY_PATH ? `${dir}:${env.LD_LIBRARY_PATH}` : dir;
  const already = env.VK_ICD_FILENAMES === `${dir}/vk_swiftshader_icd.json` && (env.LD_LIBRARY_PATH ?? '').split(':').includes(dir);
  return {
    env: { ...env, VK_ICD_FILENAMES: `${dir}/vk_swiftshader_icd.json`, LD_LIBRARY_PATH: ld },
    backend: 'swiftshader',
    changed: !already,
  };
}

export const NO_DRIVER_HELP =
  'No Vulkan driver was found for WebGPU in Node. Install a GPU driver with Vulkan support, or Debian\'s Chromium ' +
  '(`apt-get install -y chromium`, whose SwiftShader headlab uses as a CPU fallback).';
