// A small scripting handle on the page's compute core (window.headlab), for the browser console and the e2e tests: they
// send inputs, get the GPU's output back and check it against their own reference.
import type { AdapterSummary } from '../gpu/adapter';
import type { MatmulShape, MatmulVariant } from '../gpu/kernels/matmul';
import { compute } from './compute/client';
import { useGpu } from './gpuStore';

export interface PageApi {
  adapter: () => AdapterSummary | null;
  /** Where the compute core runs: 'worker' or 'page'. */
  where: () => string | null;
  matmul: (a: number[], b: number[], shape: MatmulShape, variant?: MatmulVariant) => Promise<number[]>;
}

export function installPageApi() {
  const api: PageApi = {
    adapter: () => useGpu.getState().summary,
    where: () => compute.where,
    matmul: (a, b, shape, variant) => compute.run('matmul', { a, b, shape, variant }).result,
  };
  (globalThis as unknown as { headlab: PageApi }).headlab = api;
}
