// A small scripting handle on the page's compute core (window.headlab), for the browser console and the e2e tests: they
// send inputs, get the GPU's output back and check it against their own reference.
import type { GpuRuntime } from '../gpu/runtime';
import { matmul, type MatmulShape, type MatmulVariant } from '../gpu/kernels/matmul';

export interface PageApi {
  adapter: () => GpuRuntime['summary'] | null;
  matmul: (a: number[], b: number[], shape: MatmulShape, variant?: MatmulVariant) => Promise<number[]>;
}

export function installPageApi(getRuntime: () => GpuRuntime | null) {
  const api: PageApi = {
    adapter: () => getRuntime()?.summary ?? null,
    matmul: async (a, b, shape, variant) => {
      const rt = getRuntime();
      if (!rt) throw new Error('No GPU device on this page.');
      const batch = shape.batch ?? 1;
      const A = await rt.tensor('page A', new Float32Array(a));
      const B = await rt.tensor('page B', new Float32Array(b));
      const C = await rt.tensor('page C', batch * shape.M * shape.N);
      try {
        rt.fill(C, NaN);
        await matmul(rt, A, B, C, shape, variant);
        return Array.from(await rt.read(C));
      } finally {
        [A, B, C].forEach((t) => rt.release(t));
      }
    },
  };
  (globalThis as unknown as { headlab: PageApi }).headlab = api;
}
