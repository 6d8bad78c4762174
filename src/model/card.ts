// The model card: what a person needs to know about a loaded model, as plain data for the UI and `headlab info`.
import type { Model } from './types';
import { kvBytesPerToken, parameterCount, planGpuMemory, type GpuMemoryPlan } from './heads';

export interface ModelCard {
  family: string;
  architecture: string;
  params: number;
  layers: number;
  heads: number;
  headDim: number;
  dim: number;
  ffnDim: number;
  vocab: number;
  contextLength: number;
  kvHeads: { k: number; v: number }[];
  kvBytesPerToken: number;
  positional: string;
  norm: string;
  mlp: string;
  tiedEmbeddings: boolean;
  tokenizer: string | null;
  files: string[];
  gpu?: GpuMemoryPlan;
}

export function modelCard(model: Model, tokenizer: string | null, limits?: { maxStorageBufferBindingSize: number; maxBufferSize: number }): ModelCard {
  const c = model.config;
  const p = c.positional;
  return {
    family: c.family,
    architecture: c.architecture,
    params: parameterCount(model),
    layers: c.layers,
    heads: c.heads,
    headDim: c.headDim,
    dim: c.dim,
    ffnDim: c.ffnDim,
    vocab: c.vocab,
    contextLength: c.contextLength,
    kvHeads: model.layers.map((l) => ({ k: l.kv.kHeads, v: l.kv.vHeads })),
    kvBytesPerToken: kvBytesPerToken(model),
    positional:
      p.kind === 'rotary'
        ? `rotary (${p.style === 'half' ? 'rotate-half' : 'interleaved pairs'}${p.fraction < 1 ? `, ${Math.round(p.fraction * 100)}% of dims` : ''}, θ ${p.theta})`
        : p.kind,
    norm: c.norm,
    mlp: c.mlp,
    tiedEmbeddings: c.tiedEmbeddings,
    tokenizer,
    files: model.source.files,
    gpu: limits ? planGpuMemory(model, limits) : undefined,
  };
}
