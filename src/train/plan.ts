// The memory plan of a training run, made before anything is allocated: weights (student and teacher), gradients and AdamW
// moments of what trains, the training forward's kept activations, the backward's scratch, the teacher's forward. The
// micro-batch is the largest divisor of the step's sequences whose tensors each fit one storage binding and whose total
// fits the budget; when even one sequence does not fit, the run is refused with the numbers.
import { layerKvShapes } from '../model/latent';
import type { Model } from '../model/types';
import { parameterCount } from '../model/heads';
import { ForwardPass } from '../eval/forward';
import { formatBytes } from '../format';
import { Backward } from './backward';
import { trainableCount, type TrainableSet } from './params';

export interface TrainingPlan {
  /** Sequences per forward/backward, and forwards per step (gradient accumulation). */
  microBatch: number;
  accumulation: number;
  bytes: {
    weights: number;
    teacher: number;
    gradients: number;
    optimizer: number;
    activations: number;
    backward: number;
    teacherActivations: number;
    total: number;
  };
  /** The largest single tensor (it must fit one storage binding). */
  largest: { what: string; bytes: number };
}

export interface PlanLimits {
  maxStorageBufferBindingSize: number;
  /** The backward runs flash-style (Backward.flashFor): no [B, heads, T, T] probabilities. */
  flash?: boolean;
  /** Total bytes the run may use (none: only the bindings are checked; allocation failures are still caught). */
  maxBytes?: number;
}

export class TrainingMemoryError extends Error {
  constructor(
    readonly plan: TrainingPlan,
    reason: string,
  ) {
    super(
      `training does not fit: ${reason}. ${describePlan(plan)}. Use fewer or shorter sequences per step (--train-batch, --train-seq), train fewer weights, or a GPU with more memory.`,
    );
    this.name = 'TrainingMemoryError';
  }
}

export function describePlan(p: TrainingPlan): string {
  const b = p.bytes;
  const parts = [
    ['weights', b.weights],
    ['teacher', b.teacher],
    ['gradients', b.gradients],
    ['optimizer state', b.optimizer],
    ['activations', b.activations],
    ['backward scratch', b.backward],
    ['teacher forward', b.teacherActivations],
  ]
    .filter(([, n]) => (n as number) > 0)
    .map(([k, n]) => `${k} ${formatBytes(n as number)}`);
  return `${formatBytes(b.total)} in all (${parts.join(', ')}), ${p.microBatch} sequence${p.microBatch > 1 ? 's' : ''} per forward × ${p.accumulation}`;
}

function planFor(student: Model, teacher: Model | null, set: TrainableSet, mb: number, batch: number, T: number, flash: boolean): TrainingPlan {
  const c = student.config;
  const shape = { batch: mb, chunk: T, cacheT: T };
  const trained = 4 * trainableCount(student, set);
  const bytes = {
    weights: 4 * parameterCount(student),
    teacher: teacher ? 4 * parameterCount(teacher) : 0,
    gradients: trained,
    optimizer: 2 * trained,
    activations: ForwardPass.bytesFor(c, layerKvShapes(student), { ...shape, keep: true }),
    backward: 4 * Object.values(Backward.sizes(c, layerKvShapes(student), mb, T, flash)).reduce((a, n) => a + n, 0),
    teacherActivations: teacher ? ForwardPass.bytesFor(teacher.config, layerKvShapes(teacher), shape) : 0,
    total: 0,
  };
  bytes.total = Object.values(bytes).reduce((a, n) => a + n, 0);
  const R = mb * T;
  const candidates: [string, number][] = [
    [`logits [${R}, ${c.vocab}]`, 4 * R * c.vocab],
    ...(flash ? [] : [[`attention probabilities [${mb}, ${c.heads}, ${T}, ${T}]`, 4 * mb * c.heads * T * T] as [string, number]]),
    [`MLP activations [${R}, ${c.ffnDim}]`, 4 * R * c.ffnDim],
  ];
  const [what, big] = candidates.reduce((a, b) => (b[1] > a[1] ? b : a));
  return { microBatch: mb, accumulation: batch / mb, bytes, largest: { what, bytes: big } };
}

/** The plan with the largest micro-batch that fits (a divisor of `batch`), or TrainingMemoryError. */
export function planTraining(student: Model, teacher: Model | null, set: TrainableSet, batch: number, T: number, limits: PlanLimits): TrainingPlan {
  let last: TrainingPlan | null = null;
  for (let mb = batch; mb >= 1; mb--) {
    if (batch % mb) continue;
    const p = planFor(student, teacher, set, mb, batch, T, Boolean(limits.flash));
    last = p;
    if (p.largest.bytes <= limits.maxStorageBufferBindingSize && (limits.maxBytes === undefined || p.bytes.total <= limits.maxBytes)) return p;
  }
  const p = last!;
  if (p.largest.bytes > limits.maxStorageBufferBindingSize) {
    throw new TrainingMemoryError(
      p,
      `one sequence's ${p.largest.what} needs ${formatBytes(p.largest.bytes)}, above this adapter's ${formatBytes(limits.maxStorageBufferBindingSize)} per binding`,
    );
  }
  throw new TrainingMemoryError(p, `even one sequence per forward needs ${formatBytes(p.bytes.total)}, above the ${formatBytes(limits.maxBytes!)} allowed`);
}
