// Text generation with a KV cache (K and V stored once per KV head): greedy, or temperature / top-k sampling with a seed.
// Tokens stream out one by one as events.
import { seededRandom } from '../random';
import type { Tokenizer } from '../model/tokenizer';
import type { GpuModel } from './gpuModel';
import { ForwardPass, maxChunk } from './forward';
import { cacheLayers, kvCacheSize, quantisedChunk, quantises, type KvQuant } from '../model/kvQuant';
import { throwIfAborted } from '../progress';

export interface SamplingOptions {
  maxTokens: number;
  /** 0: greedy (argmax). */
  temperature: number;
  /** Sample among the k most likely tokens (0: all). */
  topK: number;
  seed: number;
  signal?: AbortSignal;
  /** Stop at the end-of-sequence token (default true). */
  stopAtEos?: boolean;
  /** A quantised KV cache (src/eval/kvQuant.ts); none: the full-precision cache. */
  kvQuant?: KvQuant | null;
}

export interface GeneratedToken {
  id: number;
  /** Text this token added. */
  text: string;
  /** Tokens in the KV cache after it, and their bytes as the lab holds them (exact positions in f32, packed codes and scales). */
  cachedTokens: number;
  kvCacheBytes: number;
  /** Of the cached tokens, those held quantised. */
  quantisedTokens: number;
}

/** Picks the next token from one row of logits. */
export function sample(logits: Float32Array, temperature: number, topK: number, random: () => number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  let idx = Array.from(logits.keys());
  if (topK > 0 && topK < logits.length) idx = idx.sort((a, b) => logits[b] - logits[a] || a - b).slice(0, topK);
  const m = logits[best];
  const w = idx.map((i) => Math.exp((logits[i] - m) / temperature));
  const z = w.reduce((a, b) => a + b, 0);
  let r = random() * z;
  for (let j = 0; j < idx.length; j++) {
    r -= w[j];
    if (r <= 0) return idx[j];
  }
  return idx[idx.length - 1];
}

export async function* generate(gm: GpuModel, tokenizer: Tokenizer, prompt: string, opts: SamplingOptions): AsyncGenerator<GeneratedToken> {
  const c = gm.model.config;
  const ids = tokenizer.encode(prompt, { bos: true });
  if (!ids.length) throw new Error('generate: the prompt gave no tokens');
  if (ids.length >= c.contextLength) throw new RangeError(`generate: the prompt has ${ids.length} tokens; the context holds ${c.contextLength}`);
  const chunk = maxChunk(gm.rt, c.vocab, 1, c.contextLength);
  const kvQuant = quantises(opts.kvQuant) ? opts.kvQuant : null;
  const fp = await ForwardPass.create(gm, { batch: 1, chunk, cacheT: c.contextLength, kvQuant });
  const random = seededRandom(opts.seed);
  const layers = cacheLayers(gm.model);
  try {
    let rows = 0;
    for (let p0 = 0; p0 < ids.length; p0 += rows) {
      rows = Math.min(chunk, ids.length - p0);
      if (kvQuant) rows = quantisedChunk(p0, rows, kvQuant);
      await fp.run(Uint32Array.from(ids.slice(p0, p0 + rows)), rows, p0);
    }
    const all = [...ids];
    let text = tokenizer.decode(all);
    for (let i = 0; i < opts.maxTokens && all.length < c.contextLength; i++) {
      throwIfAborted(opts.signal);
      const logits = await gm.rt.read(fp.logits, c.vocab, (rows - 1) * c.vocab);
      const id = sample(logits, opts.temperature, opts.topK, random);
      if (id === tokenizer.eosId && opts.stopAtEos !== false) return;
      all.push(id);
      const next = tokenizer.decode(all);
      const size = kvCacheSize(c.headDim, layers, kvQuant, all.length, 32);
      yield { id, text: next.slice(text.length), cachedTokens: all.length, kvCacheBytes: size.bytes, quantisedTokens: size.quantised };
      text = next;
      if (all.length >= c.contextLength || i + 1 >= opts.maxTokens) return;
      rows = 1;
      await fp.run(new Uint32Array([id]), 1, all.length - 1);
    }
  } finally {
    fp.release();
  }
}
