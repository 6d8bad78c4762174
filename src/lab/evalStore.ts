// Evaluation in the page: the loaded model's weights on the GPU (uploaded once per model), perplexity over a text with
// progress and cancel, and streamed generation — for one model or two side by side.
import { create } from 'zustand';
import type { LoadedModel } from '../model/load';
import { GpuModel } from '../eval/gpuModel';
import { perplexity, splitDocuments, tokenizeDocuments, type DocumentSplit, type PerplexityResult } from '../eval/perplexity';
import { generate, type SamplingOptions } from '../eval/generate';
import { LoadCancelledError } from '../model/errors';
import { useGpu } from './gpuStore';
import type { Progress } from '../progress';

const uploaded = new WeakMap<LoadedModel, Promise<GpuModel>>();

/** The model's weights on the page's GPU device, uploaded on first use. */
export function gpuModelOf(loaded: LoadedModel): Promise<GpuModel> {
  let p = uploaded.get(loaded);
  if (!p) {
    const rt = useGpu.getState().runtime;
    if (!rt) return Promise.reject(new Error('No GPU device: WebGPU is not available on this page (see the GPU panel).'));
    p = GpuModel.upload(rt, loaded.model);
    p.catch(() => uploaded.delete(loaded));
    uploaded.set(loaded, p);
  }
  return p;
}

export interface PerplexityRun {
  running: boolean;
  progress: Progress | null;
  result: (PerplexityResult & { model: string; text: string }) | null;
  error: string | null;
}

export interface Continuation {
  model: string;
  text: string;
  tokens: number;
  kvCacheBytes: number;
  done: boolean;
  error: string | null;
}

interface EvalState {
  ppl: PerplexityRun;
  continuations: Continuation[];
  generating: boolean;
  runPerplexity: (loaded: LoadedModel, text: string, textName: string, opts: { split: DocumentSplit; minChars: number; maxDocs: number }) => Promise<void>;
  runGenerate: (models: LoadedModel[], prompt: string, opts: Omit<SamplingOptions, 'signal'>) => Promise<void>;
  cancel: () => void;
}

let controller: AbortController | null = null;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const useEval = create<EvalState>((set) => ({
  ppl: { running: false, progress: null, result: null, error: null },
  continuations: [],
  generating: false,

  runPerplexity: async (loaded, text, textName, opts) => {
    controller?.abort();
    const mine = (controller = new AbortController());
    set({ ppl: { running: true, progress: null, result: null, error: null } });
    try {
      if (!loaded.tokenizer) throw new Error(`${loaded.name} has no tokenizer, so it cannot read text.`);
      const docs = tokenizeDocuments(splitDocuments(text, { split: opts.split, minChars: opts.minChars, maxDocs: opts.maxDocs || undefined }), loaded.tokenizer, loaded.model.config.contextLength);
      if (!docs.length) throw new Error(`No documents in ${textName} with these settings (split, minimum length).`);
      const gm = await gpuModelOf(loaded);
      const r = await perplexity(gm, docs, { signal: mine.signal, onProgress: (p) => set((s) => ({ ppl: { ...s.ppl, progress: p } })) });
      set({ ppl: { running: false, progress: null, result: { ...r, model: loaded.name, text: textName }, error: null } });
    } catch (e) {
      set({ ppl: { running: false, progress: null, result: null, error: e instanceof LoadCancelledError ? 'Cancelled.' : message(e) } });
    }
  },

  runGenerate: async (models, prompt, opts) => {
    controller?.abort();
    const mine = (controller = new AbortController());
    set({ generating: true, continuations: models.map((m) => ({ model: m.name, text: '', tokens: 0, kvCacheBytes: 0, done: false, error: null })) });
    const update = (i: number, c: Partial<Continuation>) => set((s) => ({ continuations: s.continuations.map((x, j) => (j === i ? { ...x, ...c } : x)) }));
    for (const [i, loaded] of models.entries()) {
      try {
        if (!loaded.tokenizer) throw new Error(`${loaded.name} has no tokenizer.`);
        const gm = await gpuModelOf(loaded);
        let text = '';
        for await (const t of generate(gm, loaded.tokenizer, prompt, { ...opts, signal: mine.signal })) {
          text += t.text;
          update(i, { text, tokens: t.cachedTokens, kvCacheBytes: t.kvCacheBytes });
        }
        update(i, { done: true });
      } catch (e) {
        update(i, { done: true, error: e instanceof LoadCancelledError ? 'Stopped.' : message(e) });
      }
    }
    set({ generating: false });
  },

  cancel: () => controller?.abort(),
}));
