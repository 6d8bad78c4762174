// The page's model: which checkpoint the compute core holds, the download and parse progress of the one loading, its model
// card, and the last error. A failed load keeps the previous model, so the lab stays usable. The core keeps the model loaded
// now and the one before it (for side-by-side comparisons); older ones are released.
import { isCancelled } from '../progress';
import { create } from 'zustand';
import type { ModelCard } from '../model/card';
import type { DownloadProgress } from '../model/remote';
import type { Progress } from '../progress';
import { compute } from './compute/client';
import type { ModelHandle, ModelSource } from './compute/protocol';
import { useSettings } from './settingsStore';

export type ModelStatus = 'idle' | 'loading' | 'ready' | 'error';

interface ModelState {
  status: ModelStatus;
  /** What is being loaded, in words. */
  loading: string | null;
  downloads: DownloadProgress[];
  progress: Progress | null;
  loaded: ModelHandle | null;
  /** The model loaded before this one, kept for side-by-side comparisons. */
  previous: ModelHandle | null;
  card: ModelCard | null;
  error: string | null;
  notes: string[];
  loadFiles: (files: [string, Blob][], label: string) => Promise<void>;
  loadUrl: (spec: string) => Promise<void>;
  loadDemo: () => Promise<void>;
  /** Loads what the page setting `model` names; a local file cannot come from a link, so the demo stands in (with a note). */
  loadSpec: (spec: string) => Promise<void>;
  cancel: () => void;
  clearCache: () => Promise<string>;
}

export const DEMO_SPEC = `${import.meta.env.BASE_URL}demo/demo-mha-bytes.bin`;

let current: number | null = null;

/** The model setting a loaded checkpoint leaves in the page address: 'demo', a preset, hf:…, a URL, or file:NAME (local). */
function remember(spec: string) {
  const s = useSettings.getState();
  if (s.ready && s.values.model !== spec) s.set('model', spec.slice(0, 2000));
}

export const useModel = create<ModelState>((set, get) => {
  async function run(label: string, spec: string, source: ModelSource) {
    if (current !== null) compute.control(current, 'cancel');
    set({ status: 'loading', loading: label, downloads: [], progress: null, error: null });
    const job = compute.run('load', { source }, (e) => {
      if (current !== job.id) return;
      if (e.progress) set({ progress: e.progress });
      if (e.download) {
        const d = e.download;
        set((s) => {
          const downloads = s.downloads.filter((x) => x.file !== d.file);
          const i = s.downloads.findIndex((x) => x.file === d.file);
          downloads.splice(i < 0 ? downloads.length : i, 0, d);
          return { downloads };
        });
      }
    });
    current = job.id;
    try {
      const handle = await job.result;
      if (current !== job.id) {
        compute.run('release', { modelId: handle.id });
        return;
      }
      const dropped = get().previous;
      if (dropped) compute.run('release', { modelId: dropped.id });
      set((s) => ({ status: 'ready', loading: null, loaded: handle, previous: s.loaded, card: handle.card, notes: handle.notes, progress: null }));
      remember(spec);
    } catch (e) {
      if (current !== job.id) return;
      const cancelled = isCancelled(e);
      set({
        status: get().loaded ? 'ready' : cancelled ? 'idle' : 'error',
        loading: null,
        progress: null,
        error: cancelled ? null : e instanceof Error ? e.message : String(e),
        notes: cancelled ? ['Loading was cancelled; the previous model is still loaded.'] : get().notes,
      });
    } finally {
      if (current === job.id) current = null;
    }
  }

  const base = () => globalThis.location?.href ?? 'http://localhost/';

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

    loadFiles: (files, label) => run(label, `file:${label}`, { kind: 'files', files, label }),
    loadUrl: (spec) => run(spec, spec, { kind: 'url', spec, base: base() }),
    loadDemo: () => run('the built-in demo', 'demo', { kind: 'demo', url: DEMO_SPEC, base: base() }),

    loadSpec: async (spec) => {
      if (spec.startsWith('file:')) {
        await get().loadDemo();
        set((s) => ({
          notes: [
            `This link was made with a local file (${spec.slice(5)}), which a link cannot carry: open it with Open files…. The built-in demo is loaded meanwhile.`,
            ...s.notes,
          ],
        }));
        return;
      }
      await (spec === 'demo' || spec === '' ? get().loadDemo() : get().loadUrl(spec));
    },

    cancel: () => {
      if (current !== null) compute.control(current, 'cancel');
    },

    clearCache: async () =>
      (await compute.run('clearCache', {}).result) ? 'Downloaded models were removed from the browser cache.' : 'The cache was already empty.',
  };
});
