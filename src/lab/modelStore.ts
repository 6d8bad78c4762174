// The page's model: which checkpoint is loaded, the download and parse progress of the one loading, its model card, and
// the last error. A failed load keeps the previous model, so the lab stays usable.
import { create } from 'zustand';
import { loadModelFiles, toFileMap, type LoadedModel } from '../model/load';
import { modelCard, type ModelCard } from '../model/card';
import { fetchModel, clearModelCache, type DownloadProgress } from '../model/remote';
import { LoadCancelledError } from '../model/errors';
import type { Progress } from '../progress';
import { useGpu } from './gpuStore';

export type ModelStatus = 'idle' | 'loading' | 'ready' | 'error';

interface ModelState {
  status: ModelStatus;
  /** What is being loaded, in words. */
  loading: string | null;
  downloads: DownloadProgress[];
  progress: Progress | null;
  loaded: LoadedModel | null;
  /** The model loaded before this one, kept for side-by-side comparisons. */
  previous: LoadedModel | null;
  card: ModelCard | null;
  error: string | null;
  notes: string[];
  loadFiles: (files: [string, Blob][], label: string) => Promise<void>;
  loadUrl: (spec: string) => Promise<void>;
  loadDemo: () => Promise<void>;
  cancel: () => void;
  clearCache: () => Promise<string>;
}

export const DEMO_SPEC = `${import.meta.env.BASE_URL}demo/demo-mha-bytes.bin`;

let controller: AbortController | null = null;

export const useModel = create<ModelState>((set, get) => {
  async function run(label: string, work: (signal: AbortSignal) => Promise<LoadedModel>) {
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    set({ status: 'loading', loading: label, downloads: [], progress: null, error: null });
    try {
      const loaded = await work(mine.signal);
      const limits = useGpu.getState().runtime?.limits;
      const card = modelCard(loaded.model, loaded.tokenizer?.kind ?? null, limits); // throws ModelTooLargeError with numbers
      if (controller !== mine) return;
      set((s) => ({ status: 'ready', loading: null, loaded, previous: s.loaded, card, notes: loaded.notes, progress: null }));
    } catch (e) {
      if (controller !== mine) return;
      const cancelled = e instanceof LoadCancelledError;
      set({
        status: get().loaded ? 'ready' : cancelled ? 'idle' : 'error',
        loading: null,
        progress: null,
        error: cancelled ? null : e instanceof Error ? e.message : String(e),
        notes: cancelled ? ['Loading was cancelled; the previous model is still loaded.'] : get().notes,
      });
    } finally {
      if (controller === mine) controller = null;
    }
  }

  const onProgress = (p: Progress) => set({ progress: p });
  const onFile = (d: DownloadProgress) =>
    set((s) => {
      const downloads = s.downloads.filter((x) => x.file !== d.file);
      const i = s.downloads.findIndex((x) => x.file === d.file);
      downloads.splice(i < 0 ? downloads.length : i, 0, d);
      return { downloads };
    });

  return {
    status: 'idle',
    loading: null,
    downloads: [],
    progress: null,
    loaded: null,
    previous: null,
    card: null,
    error: null,
    notes: [],

    loadFiles: (files, label) => run(label, (signal) => loadModelFiles(toFileMap(files), { name: label, signal, onProgress })),

    loadUrl: (spec) =>
      run(spec, async (signal) => {
        const r = await fetchModel(spec, { signal, onFile, onProgress });
        const loaded = await loadModelFiles(r.files, { name: r.name, primary: r.primary, signal, onProgress });
        return { ...loaded, notes: [...r.notes, ...loaded.notes] };
      }),

    loadDemo: () =>
      run('the built-in demo', async (signal) => {
        const r = await fetchModel(DEMO_SPEC, { signal, onFile, onProgress, cache: false });
        return loadModelFiles(r.files, { name: 'demo-mha-bytes (built-in demo)', primary: r.primary, signal, onProgress });
      }),

    cancel: () => controller?.abort(),

    clearCache: async () => ((await clearModelCache()) ? 'Downloaded models were removed from the browser cache.' : 'The cache was already empty.'),
  };
});
