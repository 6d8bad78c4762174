// Head similarity in the page: a calibration pass on the GPU over the first N tokens of a text, then each layer's K and V
// matrices, published layer by layer so the heatmaps fill in as results arrive.
import { create } from 'zustand';
import type { LoadedModel } from '../model/load';
import { calibrate, calibrationSequences, calibrationTokens } from '../analysis/calibration';
import { headSimilarity, type SimilarityMetric } from '../analysis/similarity';
import { gpuModelOf } from './evalStore';
import { useGpu } from './gpuStore';
import { LoadCancelledError, throwIfAborted } from '../model/errors';

export interface LayerSimilarity {
  layer: number;
  k: number[][];
  v: number[][];
}

interface SimilarityState {
  running: boolean;
  stage: string | null;
  metric: SimilarityMetric;
  model: string | null;
  tokens: number;
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
  layers: [],
  error: null,

  run: async (loaded, metric, text, maxTokens) => {
    controller?.abort();
    const mine = (controller = new AbortController());
    set({ running: true, stage: 'calibration', metric, model: loaded.name, tokens: 0, layers: [], error: null });
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
        set((s) => ({ layers: [...s.layers, { layer: l, k, v }] }));
      }
      set({ running: false, stage: null });
    } catch (e) {
      set({ running: false, stage: null, error: e instanceof LoadCancelledError ? 'Cancelled.' : e instanceof Error ? e.message : String(e) });
    }
  },

  cancel: () => controller?.abort(),
}));
