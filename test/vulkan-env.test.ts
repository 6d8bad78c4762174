// The choice of Vulkan driver for Dawn in Node (scripts/vulkan-env.mjs): pinned drivers are kept, installed ones are used
// only when they give an adapter, and otherwise Chromium's SwiftShader stands in — checked with a fake icd.d folder like
// the one Debian's mesa-vulkan-drivers leaves on a machine without that GPU.
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { probeAdapter, systemVulkanDrivers, webgpuEnvironment } from '../scripts/vulkan-env.mjs';

/** A clean environment whose only Vulkan driver is a fake ICD in its own icd.d (a library that does not exist). */
function fakeMachine(): NodeJS.ProcessEnv {
  const root = mkdtempSync(path.join(tmpdir(), 'headlab-icd-'));
  const icd = path.join(root, 'share', 'vulkan', 'icd.d');
  mkdirSync(icd, { recursive: true });
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(
    path.join(icd, 'intel_icd.x86_64.json'),
    JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: path.join(root, 'libvulkan_fake_intel.so'), api_version: '1.3.0' } }),
  );
  writeFileSync(path.join(icd, 'lvp_icd.x86_64.json'), '{}'); // lavapipe: Dawn rejects it, so it never counts
  return { PATH: process.env.PATH, HOME: root, XDG_DATA_DIRS: path.join(root, 'share'), XDG_CONFIG_DIRS: path.join(root, 'etc') };
}

const never = () => {
  throw new Error('the adapter probe should not run here');
};

describe('Vulkan environment for Dawn', () => {
  it('finds installed ICD files where the Vulkan loader looks (lavapipe excepted)', () => {
    const env = fakeMachine();
    expect(systemVulkanDrivers(env).map((f) => path.basename(f))).toEqual(['intel_icd.x86_64.json']);
  });

  it('falls back to SwiftShader, and says so, when the installed drivers give no adapter (real probe)', () => {
    const env = fakeMachine();
    const chosen = webgpuEnvironment(env);
    expect(chosen.backend).toBe('swiftshader');
    expect(chosen.changed).toBe(true);
    expect(chosen.note).toMatch(/intel_icd\.x86_64\.json\) give WebGPU no adapter; using Chromium's SwiftShader/);
    expect(chosen.env.VK_ICD_FILENAMES).toMatch(/vk_swiftshader_icd\.json$/);
    // and under that environment Dawn does get SwiftShader
    const adapter = probeAdapter(chosen.env);
    expect(adapter).not.toBeNull();
    expect(adapter!.architecture).toBe('swiftshader');
  }, 120_000);

  it('keeps installed drivers that give an adapter', () => {
    const env = fakeMachine();
    const chosen = webgpuEnvironment(env, () => ({ vendor: 'nvidia', architecture: 'hopper', fallback: false }));
    expect(chosen).toMatchObject({ backend: 'vulkan', changed: false, note: null });
    expect(chosen.env).toBe(env);
  });

  it('never second-guesses a pinned driver, and uses SwiftShader without probing when nothing is installed', () => {
    const env = fakeMachine();
    expect(webgpuEnvironment({ ...env, VK_ICD_FILENAMES: '/opt/my_icd.json' }, never)).toMatchObject({ backend: 'vulkan', changed: false });
    expect(webgpuEnvironment({ ...env, HEADLAB_WEBGPU_BACKEND: 'as-is' }, never)).toMatchObject({ backend: 'vulkan', changed: false });
    const bare = { ...env, XDG_DATA_DIRS: path.join(env.HOME!, 'nothing') };
    expect(webgpuEnvironment(bare, never)).toMatchObject({ backend: 'swiftshader', note: null });
    expect(webgpuEnvironment({ ...bare, HEADLAB_SWIFTSHADER_DIR: path.join(env.HOME!, 'no-chromium') }, never)).toMatchObject({ backend: 'none' });
  });
});
