// Browser and Web Worker entry to the GPU runtime: navigator.gpu.
import { GpuRuntime } from './runtime';

export function createBrowserRuntime(): Promise<GpuRuntime> {
  const g = globalThis as typeof globalThis & { WorkerGlobalScope?: unknown; navigator?: Navigator };
  const host = typeof g.WorkerGlobalScope !== 'undefined' ? 'worker' : 'browser';
  return GpuRuntime.create(g.navigator?.gpu, host);
}
