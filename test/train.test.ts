// End-to-end training: distillation of a mean-pooled stories260K back toward the original lowers the loss and the held-out
// perplexity; the same seed gives the same weights; gradient accumulation over micro-batches matches one batch; 'kv'
// trains K/V only; cross-entropy needs no teacher; the memory plan matches what is allocated and refuses with numbers.
import { layerKvShapes } from '../src/model/latent';
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { gpu } from './gpu-context';
import { testdata } from './testdata';
import type { GpuRuntime } from '../src/gpu/runtime';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles, type LoadedModel } from '../src/model/load';
import { meanPool } from '../src/fusion/headSharing';
import { splitDocuments, tokenizeDocuments } from '../src/eval/perplexity';
import { GpuModel } from '../src/eval/gpuModel';
import { ForwardPass } from '../src/eval/forward';
import { learningRate, train, TRAIN_DEFAULTS, type TrainEvent } from '../src/train/trainer';
import { planTraining, TrainingMemoryError } from '../src/train/plan';
import { Backward } from '../src/train/backward';
import { allocateTrainables, trainableNames, weightArray } from '../src/train/params';
import { relativeError } from '../src/reference/linalg';
import type { Model } from '../src/model/types';

let rt: GpuRuntime;
let loaded: LoadedModel;
let student: Model;
let data: number[][];
let evalDocs: number[][];
const SMALL = { steps: 6, batch: 4, seqLen: 48, lr: 3e-3, seed: 5 };

beforeAll(async () => {
  rt = await gpu();
  const { files, primary } = await filesFromPath(testdata('data/stories260K.bin'));
  loaded = await loadModelFiles(files, { primary });
  student = meanPool(loaded.model, 0.25);
  const val = await readFile(testdata('data/tinystories_val.txt'), 'utf8');
  const docs = (skip: number, n: number) =>
    tokenizeDocuments(splitDocuments(val, { split: 'blank-lines', minChars: 100, skipDocs: skip, maxDocs: n }), loaded.tokenizer!, 256);
  evalDocs = docs(0, 6);
  data = docs(150, 40);
});

const same = (a: Model, b: Model, name: string) => weightArray(a, name).every((v, i) => v === weightArray(b, name)[i]);

describe('training', () => {
  it('distillation after mean-pool lowers the loss and the held-out perplexity; deterministic under a seed', async () => {
    const events: TrainEvent[] = [];
    const r = await train(rt, student, data, SMALL, { teacher: loaded.model, evalDocs, onEvent: (e) => events.push(e) });
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(r.curve[0].loss).toBeNull();
    expect(r.curve.at(-1)!.tokens).toBe(6 * 4 * 48);
    const losses = r.curve.slice(1).map((p) => p.loss!);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]);
    expect(r.curve.at(-1)!.ppl!).toBeLessThan(0.8 * r.curve[0].ppl!);
    expect(events.slice(1).every((e) => e.gradNorm! > 0 && e.lr === SMALL.lr)).toBe(true);
    // The returned model is the trained one: evaluated afresh, it gives the perplexity the run reported.
    const gm = await GpuModel.upload(rt, r.model);
    const { perplexity } = await import('../src/eval/perplexity');
    expect((await perplexity(gm, evalDocs)).ppl).toBeCloseTo(r.curve.at(-1)!.ppl!, 6);
    gm.release();
    const again = await train(rt, student, data, SMALL, { teacher: loaded.model });
    const names = trainableNames(student, 'all').map((w) => w.name);
    expect(names.every((n) => same(r.model, again.model, n))).toBe(true);
    const other = await train(rt, student, data, { ...SMALL, seed: 6 }, { teacher: loaded.model });
    expect(same(r.model, other.model, 'layers.0.wq')).toBe(false);
    // The student given in is untouched.
    expect(same(student, meanPool(loaded.model, 0.25), 'layers.0.wk')).toBe(true);
  });

  it('gradient accumulation over micro-batches gives the weights of one batch', async () => {
    const opts = { ...SMALL, steps: 2 };
    const one = await train(rt, student, data, opts, { teacher: loaded.model });
    expect(one.plan.accumulation).toBe(1);
    const budget = planTraining(student, loaded.model, 'all', 2, 48, { maxStorageBufferBindingSize: 1 << 30 }).bytes.total;
    const split = await train(rt, student, data, opts, { teacher: loaded.model, maxBytes: budget });
    expect(split.plan.microBatch).toBe(2);
    expect(split.plan.accumulation).toBe(2);
    for (const n of ['embed', 'layers.4.wk', 'layers.2.down', 'finalNormW']) {
      expect(relativeError(weightArray(split.model, n), weightArray(one.model, n)), n).toBeLessThan(1e-4);
    }
    expect(split.curve[2].loss!).toBeCloseTo(one.curve[2].loss!, 5);
  });

  it("'kv' trains the K/V projections only; cross-entropy needs no teacher", async () => {
    const r = await train(rt, student, data, { ...SMALL, steps: 2, params: 'kv', loss: 'ce', lr: 2e-3 }, {});
    expect(same(r.model, student, 'layers.1.wk')).toBe(false);
    expect(same(r.model, student, 'layers.1.wv')).toBe(false);
    for (const n of ['layers.1.wq', 'layers.1.wo', 'layers.0.up', 'embed', 'finalNormW']) expect(same(r.model, student, n), n).toBe(true);
    expect(r.curve[1].loss!).toBeGreaterThan(0.5);
    await expect(train(rt, student, data, { ...SMALL, steps: 1 }, {})).rejects.toThrow(/distils from a teacher.*loss ce/);
  });

  it('learning-rate schedules: warm-up, constant and cosine', () => {
    const o = { ...TRAIN_DEFAULTS, lr: 1, steps: 10, warmupSteps: 2, minLrFraction: 0.1 };
    expect([1, 2, 3].map((s) => learningRate(o, s))).toEqual([0.5, 1, 1]);
    const cos = { ...o, schedule: 'cosine' as const };
    expect(learningRate(cos, 2)).toBe(1);
    expect(learningRate(cos, 10)).toBeCloseTo(0.1, 12);
    expect(learningRate(cos, 6)).toBeCloseTo(0.55, 12);
  });

  it('the memory plan is what is allocated, and a run that cannot fit is refused with its numbers', async () => {
    const gm = await GpuModel.upload(rt, student);
    const shape = { batch: 3, chunk: 40, cacheT: 40 };
    for (const keep of [false, true]) {
      const fp = await ForwardPass.create(gm, { ...shape, keep });
      expect(fp.bytes).toBe(ForwardPass.bytesFor(student.config, layerKvShapes(student), { ...shape, keep }));
      if (keep) {
        const p = await allocateTrainables(rt, gm, 'all');
        const bw = await Backward.create(fp, p.grads);
        const plan = planTraining(student, null, 'all', 3, 40, { maxStorageBufferBindingSize: 1 << 30 });
        expect(bw.bytes).toBe(plan.bytes.backward);
        expect(plan.bytes.activations).toBe(fp.bytes);
        bw.release();
        p.release();
      }
      fp.release();
    }
    gm.release();
    expect(() => planTraining(student, loaded.model, 'all', 8, 128, { maxStorageBufferBindingSize: 1 << 30, maxBytes: 1 << 20 })).toThrow(TrainingMemoryError);
    expect(() => planTraining(student, loaded.model, 'all', 8, 128, { maxStorageBufferBindingSize: 1 << 30, maxBytes: 1 << 20 })).toThrow(
      /needs [\d.]+ MiB, above the 1\.00 MiB allowed.*\(weights [\d.]+ KiB, teacher .*optimizer state .*1 sequence per forward × 8/,
    );
    expect(() => planTraining(student, null, 'kv', 2, 128, { maxStorageBufferBindingSize: 100_000 })).toThrow(
      /one sequence's attention probabilities \[1, 8, 128, 128\] needs 512\.0 KiB, above this adapter's 97\.7 KiB per binding/,
    );
    // The flash backward (GPUs) keeps no probabilities: the largest binding is then the logits, and the scratch shrinks.
    const flash = planTraining(student, null, 'kv', 2, 128, { maxStorageBufferBindingSize: 1 << 30, flash: true });
    const probs = planTraining(student, null, 'kv', 2, 128, { maxStorageBufferBindingSize: 1 << 30 });
    expect(flash.largest.what).not.toMatch(/probabilities/);
    expect(flash.bytes.backward).toBeLessThan(probs.bytes.backward);
  });
});
