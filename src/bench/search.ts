// DHA's search in seconds: calibration Grams first (timed apart: a forward pass per sequence on the GPU), then the search
// of docs/FUSION.md stage 1 (every layer's best partition into n groups for every n, K and V apart, and the budget DP),
// run `runs` times on the same Grams after one warm-up run. A benchmark, never a test.
import type { GpuRuntime } from '../gpu/runtime';
import type { Model } from '../model/types';
import { GpuModel } from '../eval/gpuModel';
import { calibrate } from '../analysis/calibration';
import { groupHeads, headGramsOf } from '../fusion/grouping';
import { presetRecipe, type HeadRecipe } from '../fusion/recipe';

export interface SearchBenchRow {
  model: string;
  budget: number;
  calibrationTokens: number;
  calibrationSeconds: number;
  /** Fastest of the timed runs. */
  searchSeconds: number;
  runs: number;
  /** The allocation found (K/V heads per layer), to see that every run did the same work. */
  perLayer: string;
}

export async function benchSearch(rt: GpuRuntime, name: string, model: Model, sequences: number[][], budget: number, runs = 3): Promise<SearchBenchRow> {
  const t0 = performance.now();
  const gm = await GpuModel.upload(rt, model);
  let grams;
  try {
    grams = await calibrate(gm, sequences);
  } finally {
    gm.release();
  }
  const calibrationSeconds = (performance.now() - t0) / 1000;
  let best = Infinity;
  let perLayer = '';
  for (let r = 0; r <= runs; r++) {
    const t = performance.now();
    const s = groupHeads(model, await headGramsOf(model, grams, rt), presetRecipe('dha', { training: false, fallback: false }) as HeadRecipe, budget);
    if (r > 0) best = Math.min(best, (performance.now() - t) / 1000);
    perLayer = s.groups.map((g) => `${g.k.length}/${g.v.length}`).join(' ');
  }
  return { model: name, budget, calibrationTokens: sequences.reduce((n, s) => n + s.length, 0), calibrationSeconds, searchSeconds: best, runs, perLayer };
}
