// Evaluation in the page, computed by the compute core: perplexity over a text with progress and cancel, and streamed
// generation — for one model or two side by side.
import { isCancelled } from '../progress';
import { create } from 'zustand';
import type { DocumentSplit } from '../eval/perplexity';
import type { KvQuant } from '../model/kvQuant';
import type { SamplingOptions } from '../eval/generate';
import type { Progress } from '../progress';
import { compute } from './compute/client';
import type { Jobs, ModelHandle, TextSource } from './compute/protocol';

export interface PerplexityRun {
  running: boolean;
  progress: Progress | null;
  result: (Jobs['perplexity']['result'] & { model: string }) | null;
  error: string | null;
}

export interface Continuation {
  model: string;
  text: string;
  tokens: number;
  kvCacheBytes: number;
  /** Of the cached tokens, those held quantised (0 with the plain cache). */
  quantisedTokens: number;
  done: boolean;
  error: string | null;
}

interface EvalState {
  ppl: PerplexityRun;
  continuations: Continuation[];
  generating: boolean;
  runPerplexity: (
    loaded: ModelHandle,
    text: TextSource,
    opts: { split: DocumentSplit; minChars: number; maxDocs: number; kvQuant: KvQuant | null },
  ) => Promise<void>;
  runGenerate: (models: ModelHandle[], prompt: string, opts: Omit<SamplingOptions, 'signal'>) => Promise<void>;
  cancel: () => void;
}

let current: number | null = null;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const cancelled = isCancelled;

export const useEval = create<EvalState>((set) => ({
  ppl: { running: false, progress: null, result: null, error: null },
  continuations: [],
  generating: false,

  runPerplexity: async (loaded, text, opts) => {
    if (current !== null) compute.control(current, 'cancel');
    set({ ppl: { running: true, progress: null, result: null, error: null } });
    const job = compute.run('perplexity', { modelId: loaded.id, text, ...opts }, (e) => set((s) => ({ ppl: { ...s.ppl, progress: e.progress } })));
    current = job.id;
    try {
      const r = await job.result;
      set({ ppl: { running: false, progress: null, result: { ...r, model: loaded.name }, error: null } });
    } catch (e) {
      set({ ppl: { running: false, progress: null, result: null, error: cancelled(e) ? 'Cancelled.' : message(e) } });
    } finally {
      if (current === job.id) current = null;
    }
  },

  runGenerate: async (models, prompt, opts) => {
    if (current !== null) compute.control(current, 'cancel');
    set({
      generating: true,
      continuations: models.map((m) => ({ model: m.name, text: '', tokens: 0, kvCacheBytes: 0, quantisedTokens: 0, done: false, error: null })),
    });
    const update = (i: number, c: Partial<Continuation>) => set((s) => ({ continuations: s.continuations.map((x, j) => (j === i ? { ...x, ...c } : x)) }));
    let stopped = false;
    for (const [i, loaded] of models.entries()) {
      if (stopped) {
        update(i, { done: true, error: 'Stopped.' });
        continue;
      }
      const job = compute.run('generate', { source: { modelId: loaded.id }, prompt, opts }, (e) =>
        update(i, { text: e.text, tokens: e.cachedTokens, kvCacheBytes: e.kvCacheBytes, quantisedTokens: e.quantisedTokens }),
      );
      current = job.id;
      try {
        await job.result;
        update(i, { done: true });
      } catch (e) {
        stopped = cancelled(e);
        update(i, { done: true, error: stopped ? 'Stopped.' : message(e) });
      } finally {
        if (current === job.id) current = null;
      }
    }
    set({ generating: false });
  },

  cancel: () => {
    if (current !== null) compute.control(current, 'cancel');
  },
}));
