// Training throughput: tokens per second of whole training steps (teacher forward, training forward, loss, backward,
// clipping, AdamW) for B sequences of T positions, every weight trained by KL distillation from a copy of the model.
// One warm-up step first (pipeline compilation), then `steps` timed steps. A benchmark, never a test.
import type { GpuRuntime } from '../gpu/runtime';
import type { Model } from '../model/types';
import { train } from '../train/trainer';
import { randomArray } from '../reference/linalg';

export interface TrainBenchRow {
  model: string;
  batch: number;
  seq: number;
  microBatch: number;
  msPerStep: number;
  tokensPerSecond: number;
  steps: number;
  memoryBytes: number;
  /** GPU dispatches of one step: the difference between this run and the warm-up's one-step run, per extra step. */
  dispatchesPerStep: number | null;
}

export async function benchTrain(rt: GpuRuntime, name: string, model: Model, batch: number, seq: number, steps: number): Promise<TrainBenchRow> {
  const T = Math.min(seq, model.config.contextLength);
  const tokens = Array.from(randomArray(batch * T * 4, 9, 0, model.config.vocab), (v) => Math.min(model.config.vocab - 1, Math.floor(v)));
  const data = [tokens];
  const opts = { batch, seqLen: T, loss: 'kl' as const, params: 'all' as const };
  let d0 = rt.stats.dispatches;
  await train(rt, model, data, { ...opts, steps: 1 }, { teacher: model });
  const oneStep = rt.stats.dispatches - d0;
  d0 = rt.stats.dispatches;
  const r = await train(rt, model, data, { ...opts, steps }, { teacher: model });
  const all = rt.stats.dispatches - d0;
  return {
    model: name,
    batch,
    seq: T,
    microBatch: r.plan.microBatch,
    msPerStep: (1000 * r.trainSeconds) / steps,
    tokensPerSecond: r.tokensPerSecond,
    steps,
    memoryBytes: r.plan.bytes.total,
    dispatchesPerStep: steps > 1 ? (all - oneStep) / (steps - 1) : null,
  };
}
