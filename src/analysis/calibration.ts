// Calibration pass: run the model over calibration tokens and accumulate, per layer, the Gram matrix C = XᵀX of the
// attention input X (after the norm) and its column sums, on the GPU. No per-token activations are kept, so memory does
// not grow with the text.
import type { GpuTensor } from '../gpu/runtime';
import type { Tokenizer } from '../model/tokenizer';
import { matmul } from '../gpu/kernels/matmul';
import { GpuModel } from '../eval/gpuModel';
import type { Model } from '../model/types';
import type { GpuRuntime } from '../gpu/runtime';
import { ForwardPass, maxChunk } from '../eval/forward';
import type { LongWorkOptions } from '../progress';
import { throwIfAborted } from '../progress';

export interface LayerGram {
  /** XᵀX, [dim, dim], float64 on the host. */
  gram: Float64Array;
  /** Σ_t x_t, [dim]. */
  sum: Float64Array;
  /** Tokens accumulated. */
  n: number;
}

/**
 * The first `maxTokens` calibration tokens of a text: documents (split on <|endoftext|> and blank lines) encoded one by one,
 * each BOS + its tokens, until enough are collected — never the whole text at once (llama2.c-style merging is quadratic in
 * the length of what it encodes).
 */
export function calibrationTokens(tokenizer: Tokenizer, text: string, maxTokens: number): number[] {
  const out: number[] = [];
  for (const doc of text.split(/<\|endoftext\|>|\n\s*\n/)) {
    const piece = doc.trim();
    if (!piece) continue;
    out.push(...tokenizer.encode(piece, { bos: true }));
    if (out.length >= maxTokens) break;
  }
  return out.slice(0, maxTokens);
}

/** Splits a token stream into sequences of at most `context` tokens (each run from position 0). */
export function calibrationSequences(tokens: number[], context: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < tokens.length; i += context) out.push(tokens.slice(i, i + context));
  return out;
}

export async function calibrate(gm: GpuModel, sequences: number[][], opts: LongWorkOptions = {}): Promise<LayerGram[]> {
  const rt = gm.rt;
  const c = gm.model.config;
  const D = c.dim;
  const longest = Math.min(c.contextLength, Math.max(1, ...sequences.map((s) => s.length)));
  const chunk = maxChunk(rt, c.vocab, 1, longest);
  const fp = await ForwardPass.create(gm, { batch: 1, chunk, cacheT: longest });
  const grams: GpuTensor[] = [];
  const sums: GpuTensor[] = [];
  const ones = await rt.tensor('calibration ones', new Float32Array(chunk).fill(1));
  let n = 0;
  try {
    for (let l = 0; l < c.layers; l++) {
      grams.push(await rt.tensor(`layers.${l} Gram`, new Float32Array(D * D)));
      sums.push(await rt.tensor(`layers.${l} column sums`, new Float32Array(D)));
    }
    const hooks = {
      skipLogits: true,
      attentionInput: async (layer: number, x: GpuTensor, rows: number) => {
        // C += XᵀX and s += Xᵀ1: X is [rows, D], so op(A) = Xᵀ with A stored [K = rows, M = D].
        await matmul(rt, x, x, grams[layer], { M: D, N: D, K: rows, transA: true, beta: 1 });
        await matmul(rt, x, ones, sums[layer], { M: D, N: 1, K: rows, transA: true, beta: 1 });
      },
    };
    for (const [i, seq] of sequences.entries()) {
      throwIfAborted(opts.signal);
      const ids = seq.slice(0, longest);
      for (let p0 = 0; p0 < ids.length; p0 += chunk) {
        const m = Math.min(chunk, ids.length - p0);
        await fp.run(Uint32Array.from(ids.slice(p0, p0 + m)), m, p0, undefined, hooks);
      }
      n += ids.length;
      opts.onProgress?.({ stage: 'calibration', done: i + 1, total: sequences.length, detail: `${n} tokens` });
    }
    const out: LayerGram[] = [];
    for (let l = 0; l < c.layers; l++) {
      out.push({ gram: Float64Array.from(await rt.read(grams[l])), sum: Float64Array.from(await rt.read(sums[l])), n });
    }
    return out;
  } finally {
    fp.release();
    [...grams, ...sums, ones].forEach((t) => rt.release(t));
  }
}

/** The calibration Grams of a model over sequences: its weights uploaded for the pass and released after. */
export async function calibrationGrams(rt: GpuRuntime, model: Model, sequences: number[][], opts: LongWorkOptions = {}): Promise<LayerGram[]> {
  const gm = await GpuModel.upload(rt, model);
  try {
    return await calibrate(gm, sequences, opts);
  } finally {
    gm.release();
  }
}
