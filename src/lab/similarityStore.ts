// Head similarity in the page: a calibration pass on the GPU over the first N tokens of a text, then each layer's Q, K and V
// matrices and the K and V redundancy (merge loss, from the same Grams), published layer by layer so the heatmaps and bars
// fill in as results arrive.
import { create } from 'zustand';
import type { LoadedModel } from '../model/load';
import { calibrate, calibrationSequences, calibrationTokens } from '../analysis/calibration';
import { headSimilarity, type SimilarityMetric } from '../analysis/similarity';
import { layerMergeLoss, type MergeLoss } from '../analysis/redundancy';
import { gpuModelOf } from './evalStore';
import { useGpu } from './gpuStore';
import { LoadCancelledError, throwIfAborted } from '../model/errors';

export interface LayerSimilarity {
  layer: number;
  /** Query heads: not fusable into KV heads, shown for teaching. */
  q: number[][];
  k: number[][];
  v: number[][];
  /** Merge loss of the K and V heads; null for weight-cosine, which runs no calibration pass. */
  redundancy: { k: MergeLoss; v: MergeLoss } | null;
}

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
  run: (loaded: LoadedModel, metric: SimilarityMetric, text: string, maxTokens: number) => Promise<void>;
  cancel: () => void;
}

let controller: AbortController | null = null;

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
    controller?.abort();
    const mine = (controller = new AbortController());
    set({ running: true, stage: 'calibration', metric, model: loaded.name, tokens: 0, totalLayers: loaded.model.config.layers, layers: [], error: null });
    try {
      const rt = useGpu.getState().runtime;
      if (!rt) throw new Error('No GPU device: WebGPU is not available on this page (see the GPU panel).');
      let grams;
      if (metric !== 'weight-cosine') {
        if (!loaded.tokenizer) throw new Error(`${loaded.name} has no tokenizer, so it cannot read the calibration text.`);
        const tokens = calibrationTokens(loaded.tokenizer, text, maxTokens);
        const gm = await gpuModelOf(loaded);
        grams = await calibrate(gm, calibrationSequences(tokens, loaded.model.config.contextLength), {
          signal: mine.signal,
          onProgress: (p) => set({ stage: `calibration: ${p.detail}` }),
        });
        set({ tokens: grams[0]?.n ?? 0 });
      }
      for (let l = 0; l < loaded.model.config.layers; l++) {
        throwIfAborted(mine.signal);
        set({ stage: `layer ${l + 1} of ${loaded.model.config.layers}` });
        const k = await headSimilarity(loaded.model, l, 'k', metric, grams?.[l], rt);
        const v = await headSimilarity(loaded.model, l, 'v', metric, grams?.[l], rt);
        const q = await headSimilarity(loaded.model, l, 'q', metric, grams?.[l], rt);
        const g = grams?.[l];
        const redundancy = g ? { k: await layerMergeLoss(loaded.model, l, 'k', g, rt), v: await layerMergeLoss(loaded.model, l, 'v', g, rt) } : null;
        throwIfAborted(mine.signal);
        set((s) => ({ layers: [...s.layers, { layer: l, q, k, v, redundancy }] }));
      }
      set({ running: false, stage: null });
    } catch (e) {
      if (controller !== mine) return; // a newer run replaced this one: its state is not ours to overwrite
      set({ running: false, stage: null, error: e instanceof LoadCancelledError ? 'Cancelled.' : e instanceof Error ? e.message : String(e) });
    }
  },

  cancel: () => controller?.abort(),
}));
