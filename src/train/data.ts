// Training data: token sequences (documents, each BOS + tokens cut to the context) packed into windows of seqLen positions,
// the usual LM-training packing, and the batches drawn from them with a seeded generator.
import { seededRandom } from '../random';
import { NO_TARGET } from '../gpu/kernels/transformer';

/** Windows of `seqLen` tokens cut from the concatenated sequences (a shorter stream gives one window of all of it). */
export function trainingWindows(sequences: number[][], seqLen: number): number[][] {
  return packedWindows(sequences, seqLen).map((w) => w.ids);
}

/** The windows with the token that follows each in the stream (null after the last), the target of its last position. */
export function packedWindows(sequences: number[][], seqLen: number): { ids: number[]; next: number | null }[] {
  const stream = sequences.flat();
  const out: { ids: number[]; next: number | null }[] = [];
  for (let i = 0; i + seqLen <= stream.length; i += seqLen)
    out.push({ ids: stream.slice(i, i + seqLen), next: i + seqLen < stream.length ? stream[i + seqLen] : null });
  if (!out.length && stream.length >= 2) out.push({ ids: stream, next: null });
  return out;
}

/**
 * Batches of `size` windows, seeded. Order 'replacement': drawn uniformly with replacement (end-to-end training, the
 * protocol of the PyTorch reference); 'epochs': every window once per epoch in a fresh shuffled order (DHA's layer-local
 * training). `next` gives ids [size·T] row-major and per row its next token — the CE target (NO_TARGET where none is known;
 * `fillUnknown` puts a placeholder there instead, for losses that score every row such as KL); `nextWindows` the windows.
 */
export class WindowSampler {
  private readonly windows: { ids: number[]; next: number | null }[];
  private readonly random: () => number;
  private readonly order: number[];
  private cursor: number;
  readonly T: number;

  constructor(
    sequences: number[][],
    seqLen: number,
    seed: number,
    readonly draw: 'replacement' | 'epochs' = 'replacement',
  ) {
    this.windows = packedWindows(sequences, seqLen);
    if (!this.windows.length) throw new Error('training needs at least two tokens of text');
    this.T = this.windows[0].ids.length;
    this.random = seededRandom(seed);
    this.order = this.windows.map((_, i) => i);
    this.cursor = this.order.length;
  }

  get count(): number {
    return this.windows.length;
  }

  /** The windows' token ids, in text order. */
  get all(): number[][] {
    return this.windows.map((w) => w.ids);
  }

  private pick(): { ids: number[]; next: number | null } {
    if (this.draw === 'replacement') return this.windows[Math.floor(this.random() * this.windows.length)];
    if (this.cursor >= this.order.length) {
      const o = this.order;
      for (let i = o.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [o[i], o[j]] = [o[j], o[i]];
      }
      this.cursor = 0;
    }
    return this.windows[this.order[this.cursor++]];
  }

  nextWindows(size: number): number[][] {
    return Array.from({ length: size }, () => this.pick().ids);
  }

  next(size: number, fillUnknown: boolean): { ids: Uint32Array; targets: Uint32Array } {
    const T = this.T;
    const ids = new Uint32Array(size * T);
    const targets = new Uint32Array(size * T);
    for (let b = 0; b < size; b++) {
      const w = this.pick();
      ids.set(w.ids, b * T);
      for (let t = 0; t < T; t++) {
        const next = t + 1 < T ? w.ids[t + 1] : w.next;
        targets[b * T + t] = next ?? (fillUnknown ? 0 : NO_TARGET);
      }
    }
    return { ids, targets };
  }
}
