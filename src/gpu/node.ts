// Node entry to the GPU runtime: Dawn through the `webgpu` npm package. Imported by the CLI, tests and benchmarks only.
import { GpuRuntime } from './runtime';
import { WebGpuUnavailableError } from './errors';

// Dawn's GPU object must stay referenced for the life of the process: if it is collected, the process dies (SIGSEGV).
let dawnGpu: GPU | null = null;

export async function nodeGpu(): Promise<GPU> {
  if (dawnGpu) return dawnGpu;
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new WebGpuUnavailableError('node', `The \`webgpu\` package could not be loaded (${e instanceof Error ? e.message : String(e)}); run \`npm ci\`.`);
  }
  Object.assign(globalThis, mod.globals);
  dawnGpu = mod.create([]);
  return dawnGpu;
}

export async function createNodeRuntime(): Promise<GpuRuntime> {
  return GpuRuntime.create(await nodeGpu(), 'node');
}
