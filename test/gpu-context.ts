// One Node GPU runtime per test file. No adapter is a failure, never a skip.
import { createNodeRuntime } from '../src/gpu/node';
import type { GpuRuntime } from '../src/gpu/runtime';

import { afterAll, expect } from 'vitest';

let runtime: GpuRuntime | null = null;

// Every test file that uses the shared runtime ends by checking that WebGPU reported no error outside an error scope.
afterAll(() => {
  if (runtime) expect(runtime.uncapturedErrors, 'WebGPU errors no error scope caught').toEqual([]);
});

export async function gpu(): Promise<GpuRuntime> {
  if (!runtime) runtime = await createNodeRuntime();
  return runtime;
}

/** A tensor of n values filled with NaN, so that a kernel that leaves an output unwritten fails its comparison. */
export async function poisoned(rt: GpuRuntime, label: string, n: number) {
  const t = await rt.tensor(label, n);
  rt.fill(t, NaN);
  return t;
}
