// One Node GPU runtime per test file. No adapter is a failure, never a skip.
import { createNodeRuntime } from '../src/gpu/node';
import type { GpuRuntime } from '../src/gpu/runtime';

let runtime: GpuRuntime | null = null;

export async function gpu(): Promise<GpuRuntime> {
  if (!runtime) runtime = await createNodeRuntime();
  return runtime;
}
