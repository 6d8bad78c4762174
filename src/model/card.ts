// The model card: what a person needs to know about a loaded model, as plain data for the UI and `headlab info`.
import type { Model } from './types';
import { kvBytesPerToken, parameterCount, planGpuMemory, type GpuMemoryPlan } from './heads';
import { keptPairs } from './latent';

/** A latent (MLA) layer's cache in two numbers: the latent's width d_c and the rotary pairs r each K head keeps. */
export interface LatentSize {
  rank: number;
  ropePairs: number;
}

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
  /** Per layer its latent (null: the layer caches K and V heads); null when no layer caches a latent. */
  latent: (LatentSize | null)[] | null;
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
    latent: model.layers.some((l) => l.latent) ? model.layers.map((l) => (l.latent ? { rank: l.latent.rank, ropePairs: keptPairs(l.latent) } : null)) : null,
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

/**
 * A latent (MLA) cache in words: "latent KV: d_c = 48, r = 1 rotary pair per K head, 1,024 bytes/token" — one number where
 * every layer agrees, else one per layer ("48/48/32/32"; "–" for a layer that caches K and V heads).
 */
export function latentLine(layers: (LatentSize | null)[], bytesPerToken: number): string {
  const each = (f: (l: LatentSize) => number) => {
    const v = layers.map((l) => (l ? String(f(l)) : '–'));
    return new Set(v).size === 1 ? v[0] : v.join('/');
  };
  const r = each((l) => l.ropePairs);
  return `latent KV: d_c = ${each((l) => l.rank)}, r = ${r} rotary pair${r === '1' ? '' : 's'} per K head, ${bytesPerToken.toLocaleString('en')} bytes/token`;
}
