// The K/V spectrum in the page: the compute core takes each layer's singular values of its stacked K/V projections and the
// latent width a KV budget would give it (weights only, no calibration text), published layer by layer so that the chart fills
// in as results arrive.
import { create } from 'zustand';
import { isCancelled } from '../progress';
import { compute } from './compute/client';
import type { LayerSpectrum, ModelHandle } from './compute/protocol';

export type { LayerSpectrum };

interface SpectrumState {
  running: boolean;
  /** The model measured (its core id and name), and the budget its latent widths are for. */
  modelId: number | null;
  model: string | null;
  budget: number;
  totalLayers: number;
  layers: LayerSpectrum[];
  error: string | null;
  run: (loaded: ModelHandle, budget: number) => Promise<void>;
  cancel: () => void;
}

let current: number | null = null;

export const useSpectrum = create<SpectrumState>((set) => ({
  running: false,
  modelId: null,
  model: null,
  budget: 0,
  totalLayers: 0,
  layers: [],
  error: null,

  run: async (loaded, budget) => {
    if (current !== null) compute.control(current, 'cancel');
    set({ running: true, modelId: loaded.id, model: loaded.name, budget, totalLayers: loaded.card.layers, layers: [], error: null });
    const job = compute.run('spectrum', { modelId: loaded.id, budget }, (e) => {
      if (current === job.id) set((s) => ({ layers: [...s.layers, e.layer] }));
    });
    current = job.id;
    try {
      await job.result;
      if (current === job.id) set({ running: false });
    } catch (e) {
      if (current !== job.id) return; // a newer run replaced this one
      set({ running: false, error: isCancelled(e) ? 'Cancelled.' : e instanceof Error ? e.message : String(e) });
    } finally {
      if (current === job.id) current = null;
    }
  },

  cancel: () => {
    if (current !== null) compute.control(current, 'cancel');
  },
}));
