// Keeps the page's results across reloads (src/lab/saved.ts): every fusion row with its files as it is added, the similarity
// result and the race when they finish — each under the hash of the model loaded — and restores the loaded model's saved
// results when it loads. Saving problems (a full quota) are reported once; the lab works on.
import { create } from 'zustand';
import { compute } from './compute/client';
import { useModel } from './modelStore';
import { onResult, useFusion } from './fusionStore';
import { useSimilarity, type LayerSimilarity } from './similarityStore';
import { restoredRace, useRace, type Race } from './raceStore';
import type { SimilarityMetric } from '../analysis/similarity';
import { clearSaved, get, put, rowsOf, saveProblem } from './saved';

interface SavedState {
  /** Why the last save failed (shown once), or null. */
  problem: string | null;
  /** What the last restore brought back, in words. */
  restored: string | null;
  /** Saves finished since the page opened (the page shows it on *Clear saved results*, so a test can wait for one). */
  writes: number;
  clear: () => Promise<void>;
}

interface SavedSimilarity {
  metric: SimilarityMetric;
  model: string;
  tokens: number;
  totalLayers: number;
  layers: LayerSimilarity[];
}

export const useSaved = create<SavedState>((set) => ({
  problem: null,
  restored: null,
  writes: 0,
  clear: async () => {
    try {
      await clearSaved();
      set({ problem: null, restored: 'Saved results were removed from this browser.' });
    } catch (e) {
      set({ problem: saveProblem(e) });
    }
  },
}));

const fail = (e: unknown) => useSaved.setState({ problem: saveProblem(e) });
const saved = () => useSaved.setState((s) => ({ writes: s.writes + 1 }));
const hashNow = () => useModel.getState().loaded?.hash ?? null;
let nextKey = Date.now() * 1000;

/** Starts saving and restoring; call once when the page starts. */
export function startPersistence() {
  onResult((row) => {
    const modelHash = hashNow();
    if (!modelHash) return;
    const key = nextKey++;
    void (async () => {
      const files: Record<string, Uint8Array> = {};
      for (const name of row.fileNames) files[name] = new Uint8Array(await compute.run('file', { resultId: row.id, name }).result);
      await put('rows', key, { modelHash, key, row: { ...row, comparison: null }, files });
    })().then(saved, fail);
  });

  useSimilarity.subscribe((s, prev) => {
    const modelHash = hashNow();
    if (!modelHash || !prev.running || s.running || s.error || s.layers.length !== s.totalLayers || !s.model) return;
    const result: SavedSimilarity = { metric: s.metric, model: s.model, tokens: s.tokens, totalLayers: s.totalLayers, layers: s.layers };
    put('similarity', modelHash, result).then(saved, fail);
  });

  useRace.subscribe((s, prev) => {
    const modelHash = hashNow();
    if (!modelHash || !prev.running || s.running || !s.race) return;
    put('race', modelHash, s.race).then(saved, fail);
  });

  useModel.subscribe((s, prev) => {
    if (s.loaded && s.loaded !== prev.loaded) void restore(s.loaded.hash);
  });
}

async function restore(modelHash: string) {
  try {
    const parts: string[] = [];
    const shown = new Set(useFusion.getState().rows.map((r) => `${r.method}|${r.budget}|${r.pplAfter}|${r.seconds}`));
    const rows = (await rowsOf(modelHash)).filter((r) => !shown.has(`${r.row.method}|${r.row.budget}|${r.row.pplAfter}|${r.row.seconds}`));
    if (rows.length) {
      useFusion.getState().restoreRows(rows);
      parts.push(`${rows.length} fusion result${rows.length > 1 ? 's' : ''}`);
    }
    const sim = useSimilarity.getState();
    if (!sim.running && !sim.layers.length) {
      const saved = await get<SavedSimilarity>('similarity', modelHash);
      if (saved) {
        useSimilarity.setState({ ...saved, running: false, stage: null, error: null });
        parts.push('the head similarity');
      }
    }
    const race = useRace.getState();
    if (!race.running && !race.race) {
      const saved = await get<Race>('race', modelHash);
      if (saved) {
        useRace.setState({ race: restoredRace(saved) }); // races saved before lanes existed: their methods as lanes
        parts.push('the recovery race');
      }
    }
    if (parts.length) useSaved.setState({ restored: `Restored from this browser: ${parts.join(', ')} of this model.` });
  } catch (e) {
    fail(e);
  }
}
