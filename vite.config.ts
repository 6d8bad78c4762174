/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { webgpuEnvironment } from './scripts/vulkan-env.mjs';

// Vitest's worker processes load Dawn; they inherit this environment, which must name a Vulkan driver before they start
// (a real one is kept; otherwise Chromium's SwiftShader).
if (process.env.VITEST && !process.env.HEADLAB_WEBGPU_BACKEND_CHOSEN) {
  const { env, backend, note } = webgpuEnvironment();
  if (note) console.error(`[headlab test] ${note}`);
  Object.assign(process.env, env, { HEADLAB_WEBGPU_BACKEND_CHOSEN: backend });
}

export default defineConfig({
  plugins: [react()],
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  // dist/web for the page; dist/cli holds the command-line bundle (scripts/build-cli.mjs).
  build: { target: 'es2022', outDir: 'dist/web', emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  test: {
    include: ['test/**/*.test.ts'],
    // Dawn on SwiftShader uses every core; one test file at a time keeps timings sane on 2-core machines.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
