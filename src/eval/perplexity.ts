// Perplexity over a text, the protocol of the reference numbers: documents split on <|endoftext|> or on blank lines,
// stripped, empty pieces dropped (optionally only pieces longer than N characters, skipping K, at most M); each document
// is BOS + its tokens (llama2.c tokenizers put a space before the text), cut to the model's context;
// PPL = exp(total NLL / predicted tokens).
import type { Tokenizer } from '../model/tokenizer';
import type { GpuModel } from './gpuModel';
import { ForwardPass, NO_TARGET, maxChunk } from './forward';
import type { LongWorkOptions } from '../progress';
import { throwIfAborted } from '../progress';
import { quantisedChunk, quantises, type KvQuant } from '../model/kvQuant';

export type DocumentSplit = 'endoftext' | 'blank-lines';

export interface DocumentSelection {
  split: DocumentSplit;
  /** Keep only pieces longer than this many characters. */
  minChars?: number;
  /** Skip this many of the kept pieces first. */
  skipDocs?: number;
  /** Then take at most this many. */
  maxDocs?: number;
}

export function splitDocuments(text: string, sel: DocumentSelection): string[] {
  const pieces = (sel.split === 'endoftext' ? text.split('<|endoftext|>') : text.split('\n\n')).map((s) => s.trim()).filter((s) => s.length > 0);
  const kept = pieces.filter((s) => s.length > (sel.minChars ?? 0));
  const start = sel.skipDocs ?? 0;
  return kept.slice(start, sel.maxDocs === undefined ? undefined : start + sel.maxDocs);
}

/** BOS + tokens of each document, cut to the context. */
export function tokenizeDocuments(docs: string[], tokenizer: Tokenizer, context: number): number[][] {
  return docs.map((d) => tokenizer.encode(d, { bos: true }).slice(0, context)).filter((ids) => ids.length >= 2);
}

export interface PerplexityResult {
  ppl: number;
  /** Total negative log-likelihood in nats. */
  nll: number;
  /** Predicted tokens (each document's length − 1). */
  tokens: number;
  documents: number;
  seconds: number;
}

/**
 * Runs documents in batches of up to `batch` (sorted by length, padded to the longest of each batch; padding is never
 * scored and, being after each document, never seen by it under the causal mask), in chunks against the KV cache when a
 * batch is longer than one call can hold. With a quantised cache (`kvQuant`), chunks end where the cache flushes a group.
 */
export async function perplexity(
  gm: GpuModel,
  docs: number[][],
  opts: LongWorkOptions & { batch?: number; kvQuant?: KvQuant | null } = {},
): Promise<PerplexityResult> {
  const c = gm.model.config;
  const longest = Math.min(c.contextLength, Math.max(2, ...docs.map((d) => d.length)));
  const B = Math.max(1, Math.min(opts.batch ?? 16, docs.length));
  const chunk = maxChunk(gm.rt, c.vocab, B, longest);
  const kvQuant = quantises(opts.kvQuant) ? opts.kvQuant : null;
  const fp = await ForwardPass.create(gm, { batch: B, chunk, cacheT: longest, kvQuant });
  const order = docs.map((d, i) => [d.slice(0, longest), i] as const).sort((a, b) => b[0].length - a[0].length);
  const t0 = performance.now();
  let nll = 0;
  let tokens = 0;
  let done = 0;
  try {
    for (let g = 0; g < order.length; g += B) {
      throwIfAborted(opts.signal);
      const group = order.slice(g, g + B).map(([d]) => d);
      const T = group[0].length;
      for (let p0 = 0, n = 0; p0 < T; p0 += n) {
        n = kvQuant ? quantisedChunk(p0, Math.min(chunk, T - p0), kvQuant) : Math.min(chunk, T - p0);
        const ids = new Uint32Array(B * n);
        const targets = new Uint32Array(B * n).fill(NO_TARGET);
        group.forEach((doc, b) => {
          for (let t = 0; t < n; t++) {
            const pos = p0 + t;
            if (pos < doc.length) ids[b * n + t] = doc[pos];
            if (pos + 1 < doc.length) targets[b * n + t] = doc[pos + 1];
          }
        });
        await fp.run(ids, n, p0, targets);
        for (const v of await fp.readNll()) nll += v;
      }
      for (const doc of group) tokens += doc.length - 1;
      done += group.length;
      opts.onProgress?.({ stage: 'perplexity', done, total: docs.length, detail: `${tokens} tokens` });
    }
  } finally {
    fp.release();
  }
  return { ppl: Math.exp(nll / tokens), nll, tokens, documents: docs.length, seconds: (performance.now() - t0) / 1000 };
}
