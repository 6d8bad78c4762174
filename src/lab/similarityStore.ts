// Head similarity in the page: the compute core runs a calibration pass over the first N tokens of a text, then each
// layer's Q, K and V matrices and the K and V redundancy (merge loss, from the same Grams), published layer by layer so the
// heatmaps and bars fill in as results arrive.
import { isCancelled } from '../progress';
import { create } from 'zustand';
import type { SimilarityMetric } from '../analysis/similarity';
import { compute } from './compute/client';
import type { LayerSimilarity, ModelHandle } from './compute/protocol';

export type { LayerSimilarity };

interface SimilarityState {
  running: boolean;
  stage: string | null;
  metric: SimilarityMetric;
  model: string | null;
  tokens: number;
  /** Layers of the model being measured (the views reserve room for all of them while they fill in). */
  totalLayers: number;
  layers: LayerSimilarity[];
  error: string | null;
  run: (loaded: ModelHandle, metric: SimilarityMetric, text: string, maxTokens: number) => Promise<void>;
  cancel: () => void;
}

let current: number | null = null;

export const useSimilarity = create<SimilarityState>((set) => ({
  running: false,
  stage: null,
  metric: 'cka',
  model: null,
  tokens: 0,
  totalLayers: 0,
  layers: [],
  error: null,

  run: async (loaded, metric, text, maxTokens) => {
    if (current !== null) compute.control(current, 'cancel');
    set({ running: true, stage: 'calibration', metric, model: loaded.name, tokens: 0, totalLayers: loaded.card.layers, layers: [], error: null });
    const job = compute.run('similarity', { modelId: loaded.id, metric, text, maxTokens }, (e) => {
      if (current !== job.id) return;
      if (e.stage) set({ stage: e.stage });
      if (e.tokens !== undefined) set({ tokens: e.tokens });
      if (e.layer) {
        const layer = e.layer;
        set((s) => ({ layers: [...s.layers, layer] }));
      }
    });
    current = job.id;
    try {
      await job.result;
      if (current === job.id) set({ running: false, stage: null });
    } catch (e) {
      if (current !== job.id) return; // a newer run replaced this one: its state is not ours to overwrite
      set({ running: false, stage: null, error: isCancelled(e) ? 'Cancelled.' : e instanceof Error ? e.message : String(e) });
    } finally {
      if (current === job.id) current = null;
    }
  },

  cancel: () => {
    if (current !== null) compute.control(current, 'cancel');
  },
}));
