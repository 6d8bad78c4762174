#!/usr/bin/env node
// Runs `node <args…>` with the environment under which Dawn finds a Vulkan driver (see vulkan-env.mjs).
import { spawnSync } from 'node:child_process';
import { webgpuEnvironment, NO_DRIVER_HELP } from './vulkan-env.mjs';

const { env, backend, note } = webgpuEnvironment();
if (note) console.error(`with-webgpu: ${note}`);
if (backend === 'none') console.error(`with-webgpu: ${NO_DRIVER_HELP}`);
const r = spawnSync(process.execPath, process.argv.slice(2), { stdio: 'inherit', env: { ...env, HEADLAB_WEBGPU_BACKEND_CHOSEN: backend } });
if (r.error) {
  console.error(`with-webgpu: could not start node: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? (r.signal ? 1 : 0));
