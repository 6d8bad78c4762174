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

const TOKENIZER_FILE = /^(tokenizer\.json|tokenizer_config\.json|tokenizer\.bin|tok\d+\.bin)$/;
const tokenizerFiles = new WeakMap<LoadedModel, [string, Blob][]>();

/** The tokenizer files a model came with (tokenizer.json and its config, or llama2.c's tokenizer), for exports beside it. */
export function tokenizerFilesOf(loaded: LoadedModel): [string, Blob][] {
  return tokenizerFiles.get(loaded) ?? [];
}

function remember(loaded: LoadedModel, files: Iterable<[string, Blob]>): LoadedModel {
  tokenizerFiles.set(loaded, [...files].filter(([name]) => TOKENIZER_FILE.test(name)));
  return loaded;
}

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

    loadFiles: (files, label) =>
      run(label, async (signal) => {
        const map = toFileMap(files);
        return remember(await loadModelFiles(map, { name: label, signal, onProgress }), map);
      }),

    loadUrl: (spec) =>
      run(spec, async (signal) => {
        const r = await fetchModel(spec, { signal, onFile, onProgress });
        const loaded = await loadModelFiles(r.files, { name: r.name, primary: r.primary, signal, onProgress });
        return remember({ ...loaded, notes: [...r.notes, ...loaded.notes] }, r.files);
      }),

    loadDemo: () =>
      run('the built-in demo', async (signal) => {
        const r = await fetchModel(DEMO_SPEC, { signal, onFile, onProgress, cache: false });
        return remember(await loadModelFiles(r.files, { name: 'demo-mha-bytes (built-in demo)', primary: r.primary, signal, onProgress }), r.files);
      }),

    cancel: () => controller?.abort(),

    clearCache: async () => ((await clearModelCache()) ? 'Downloaded models were removed from the browser cache.' : 'The cache was already empty.'),
  };
});
