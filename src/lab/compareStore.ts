// Attention before and after: for a prompt, which positions one query head reads in the original model and in a fused
// result (its attention probabilities from the compute core), to see what a merge changed.
import { create } from 'zustand';
import { compute } from './compute/client';
import type { ModelHandle } from './compute/protocol';
import { rowSource, type ResultRow } from './fusionStore';

export interface AttentionPattern {
  tokens: string[];
  probs: number[][];
  kHead: number;
  vHead: number;
}

interface CompareState {
  running: boolean;
  error: string | null;
  shown: { rowId: number; layer: number; head: number; prompt: string; original: AttentionPattern; fused: AttentionPattern } | null;
  show: (loaded: ModelHandle, row: ResultRow, layer: number, head: number, prompt: string) => Promise<void>;
}

export const useCompare = create<CompareState>((set) => ({
  running: false,
  error: null,
  shown: null,

  show: async (loaded, row, layer, head, prompt) => {
    set({ running: true, error: null });
    try {
      const source = row.restored ? { modelId: loaded.id } : { modelId: row.sourceModelId };
      const original = await compute.run('attention', { source, prompt, layer, head }).result;
      const fused = await compute.run('attention', { source: await rowSource(row), prompt, layer, head }).result;
      set({ running: false, shown: { rowId: row.id, layer, head, prompt, original, fused } });
    } catch (e) {
      set({ running: false, error: e instanceof Error ? e.message : String(e) });
    }
  },
}));
