// headlab commands that run a model: logits, eval (perplexity), generate. Same core code as the page.
import { openAsBlob } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createNodeRuntime } from '../gpu/node';
import { filesFromPath } from '../model/node-files';
import { loadModelFiles, type LoadedModel } from '../model/load';
import { readIntTensor, readSafetensorsHeader, writeSafetensors } from '../model/safetensors';
import { ModelFormatError } from '../model/errors';
import { GpuModel } from '../eval/gpuModel';
import { ForwardPass, maxChunk } from '../eval/forward';
import { perplexity, splitDocuments, tokenizeDocuments, type DocumentSplit } from '../eval/perplexity';
import { generate } from '../eval/generate';
import { UsageError, type ParsedArgs } from './args';
import { calibrate, calibrationSequences, calibrationTokens, type LayerGram } from '../analysis/calibration';
import { headSimilarity, METRICS, type SimilarityMetric } from '../analysis/similarity';
import { kvCacheSizeText, kvQuantFrom, kvQuantLabel, modelKvCacheSize, type KvQuant } from '../model/kvQuant';
import type { Model } from '../model/types';
import { KV_FLAGS } from './flags';

export function str(args: ParsedArgs, flag: string): string | undefined {
  const v = args.flags.get(flag);
  if (v === true) throw new UsageError(`--${flag} needs a value`);
  return v;
}

export function int(args: ParsedArgs, flag: string, fallback?: number): number | undefined {
  const v = str(args, flag);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${flag}: "${v}" is not a non-negative integer`);
  return n;
}

export function num(args: ParsedArgs, flag: string, fallback: number): number {
  const v = str(args, flag);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${flag}: "${v}" is not a non-negative number`);
  return n;
}

/**
 * The quantised KV cache the flags ask for (--kv-bits 16|8|4|3|2 [--kv-group N] [--kv-residual R] [--key-axis channel|token]
 * [--key-rope pre|post] [--keep-sink]); null without --kv-bits (the other flags alone are refused, not ignored).
 */
export function kvQuantFromArgs(args: ParsedArgs): KvQuant | null {
  const given = [...KV_FLAGS, 'keep-sink'].filter((f) => f !== 'kv-bits' && args.flags.has(f));
  if (!args.flags.has('kv-bits')) {
    if (given.length)
      throw new UsageError(
        `${given.map((f) => `--${f}`).join(', ')} ${given.length > 1 ? 'shape' : 'shapes'} a quantised KV cache: give --kv-bits 8|4|3|2 too`,
      );
    return null;
  }
  const v = {
    bits: int(args, 'kv-bits'),
    group: int(args, 'kv-group'),
    residual: int(args, 'kv-residual'),
    keyAxis: str(args, 'key-axis'),
    keyRope: str(args, 'key-rope'),
    keepSink: args.flags.has('keep-sink'),
  };
  // each flag checked on its own, so that the message names it
  const flagOf = { bits: 'kv-bits', group: 'kv-group', residual: 'kv-residual', keyAxis: 'key-axis', keyRope: 'key-rope' } as const;
  for (const [field, flag] of Object.entries(flagOf)) {
    try {
      kvQuantFrom({ [field]: v[field as keyof typeof flagOf] });
    } catch (e) {
      throw new UsageError(`--${flag}: ${(e as Error).message}`);
    }
  }
  return kvQuantFrom(v);
}

/** One line on a quantised cache's bytes at a context: per token in 16-bit terms, against the 16-bit cache. */
export function kvCacheLine(model: Model, q: KvQuant | null, context: number): string {
  const size = modelKvCacheSize(model, q, context);
  return `${kvCacheSizeText(q, size, modelKvCacheSize(model, null, context))}; scales ${((100 * size.overheadBytes) / Math.max(1, size.bytes)).toFixed(1)} % of the bytes`;
}

export async function loadFromArgs(args: ParsedArgs, command: string): Promise<LoadedModel> {
  const target = args.positionals[0];
  if (!target) throw new UsageError(`${command} needs a model: a file or a folder`);
  const { files, name, primary } = await filesFromPath(target, { tokenizer: str(args, 'tokenizer') });
  return loadModelFiles(files, { name, primary });
}

export async function readIds(path: string): Promise<{ ids: Int32Array; shape: number[] }> {
  const blob = await openAsBlob(path).catch(() => {
    throw new ModelFormatError(path, 'no such file');
  });
  const f = await readSafetensorsHeader(blob, path);
  const info = f.tensors.get('input_ids');
  if (!info) throw new ModelFormatError(path, 'it holds no "input_ids" tensor');
  if (info.shape.length !== 2) throw new ModelFormatError(path, `"input_ids" has shape ${JSON.stringify(info.shape)}; expected [N, T]`);
  return { ids: await readIntTensor(f, info), shape: info.shape };
}

/** headlab logits <model> --input in.safetensors --out out.safetensors */
export async function logitsCommand(args: ParsedArgs): Promise<number> {
  const input = str(args, 'input');
  const out = str(args, 'out');
  if (!input || !out) throw new UsageError('logits needs --input in.safetensors and --out out.safetensors');
  const { model } = await loadFromArgs(args, 'logits');
  const { ids, shape } = await readIds(input);
  const [B, T] = shape;
  const V = model.config.vocab;
  if (T > model.config.contextLength) throw new UsageError(`input_ids has ${T} positions; the model's context is ${model.config.contextLength}`);
  const rt = await createNodeRuntime();
  const gm = await GpuModel.upload(rt, model);
  const logits = new Float32Array(B * T * V);
  // One sequence at a time keeps the logits buffer within a binding whatever B is; chunks cover long T.
  const chunk = maxChunk(rt, V, 1, T);
  const fp = await ForwardPass.create(gm, { batch: 1, chunk, cacheT: T });
  for (let b = 0; b < B; b++) {
    for (let p0 = 0; p0 < T; p0 += chunk) {
      const n = Math.min(chunk, T - p0);
      await fp.run(Uint32Array.from(ids.subarray(b * T + p0, b * T + p0 + n)), n, p0);
      logits.set(await fp.readLogits(), (b * T + p0) * V);
    }
  }
  await writeFile(out, writeSafetensors([{ name: 'logits', dtype: 'F32', shape: [B, T, V], data: logits }], { producer: 'headlab' }));
  return 0;
}

/**
 * Token sequences from --<prefix>text F (split into documents by --<prefix>split, --<prefix>min-chars, --<prefix>skip-docs,
 * --<prefix>max-docs, each BOS + tokens cut to the context) or --<prefix>tokens F.safetensors (input_ids [N, T]); null when
 * neither is given.
 */
export async function documentsFromArgs(args: ParsedArgs, loaded: LoadedModel, prefix: '' | 'eval-'): Promise<number[][] | null> {
  const { model, tokenizer } = loaded;
  const textPath = str(args, `${prefix}text`);
  const tokensPath = str(args, `${prefix}tokens`);
  if (textPath && tokensPath) throw new UsageError(`give one of --${prefix}text F or --${prefix}tokens F.safetensors, not both`);
  if (textPath) {
    if (!tokenizer) throw new UsageError(`${loaded.name} has no tokenizer: give --tokenizer, or use --${prefix}tokens`);
    const split = (str(args, `${prefix}split`) ?? 'endoftext') as DocumentSplit;
    if (split !== 'endoftext' && split !== 'blank-lines') throw new UsageError(`--${prefix}split must be endoftext or blank-lines`);
    const text = await readFile(textPath, 'utf8').catch(() => {
      throw new ModelFormatError(textPath, 'no such file');
    });
    const pieces = splitDocuments(text, {
      split,
      minChars: int(args, `${prefix}min-chars`),
      skipDocs: int(args, `${prefix}skip-docs`),
      maxDocs: int(args, `${prefix}max-docs`),
    });
    return tokenizeDocuments(pieces, tokenizer, model.config.contextLength);
  }
  if (tokensPath) {
    const { ids, shape } = await readIds(tokensPath);
    const [N, T] = shape;
    return Array.from({ length: N }, (_, i) => Array.from(ids.subarray(i * T, (i + 1) * T)).slice(0, model.config.contextLength));
  }
  return null;
}

/** headlab eval <model> (--text F [--split …] [--min-chars N] [--skip-docs K] [--max-docs M] | --tokens F) [--json] */
export async function evalCommand(args: ParsedArgs): Promise<number> {
  const loaded = await loadFromArgs(args, 'eval');
  const { model } = loaded;
  const docs = await documentsFromArgs(args, loaded, '');
  if (!docs) throw new UsageError('eval needs exactly one of --text F or --tokens F.safetensors');
  if (!docs.length) throw new UsageError('no documents to evaluate (check --split, --min-chars, --skip-docs and --max-docs)');
  const kvQuant = kvQuantFromArgs(args);
  const rt = await createNodeRuntime();
  const gm = await GpuModel.upload(rt, model);
  const json = args.flags.has('json');
  const r = await perplexity(gm, docs, {
    kvQuant,
    onProgress: json ? undefined : (p) => process.stderr.write(`\r${p.stage} ${p.done}/${p.total} documents, ${p.detail}   `),
  });
  const context = Math.min(model.config.contextLength, Math.max(...docs.map((d) => d.length)));
  const cache = modelKvCacheSize(model, kvQuant, context);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ ppl: r.ppl, nll: r.nll, tokens: r.tokens, documents: r.documents, seconds: r.seconds, kvQuant, kvCache: { context, bytesPerToken16: cache.bytesPerToken, quantised: cache.quantised, exact: cache.exact } })}\n`,
    );
  else
    process.stdout.write(
      `\nperplexity ${r.ppl.toFixed(4)} over ${r.tokens} predicted tokens in ${r.documents} documents (${r.seconds.toFixed(1)} s, ${(r.tokens / r.seconds).toFixed(0)} tokens/s)\n` +
        `${kvCacheLine(model, kvQuant, context)}\n`,
    );
  return 0;
}

/** headlab generate <model> --prompt TEXT [--tokens N] [--seed S] [--temperature T] [--top-k K] */
export async function generateCommand(args: ParsedArgs): Promise<number> {
  const prompt = str(args, 'prompt');
  if (prompt === undefined) throw new UsageError('generate needs --prompt TEXT');
  const loaded = await loadFromArgs(args, 'generate');
  if (!loaded.tokenizer) throw new UsageError(`${loaded.name} has no tokenizer: give --tokenizer`);
  const kvQuant = kvQuantFromArgs(args);
  const rt = await createNodeRuntime();
  const gm = await GpuModel.upload(rt, loaded.model);
  process.stdout.write(prompt);
  let last = null;
  for await (const tok of generate(gm, loaded.tokenizer, prompt, {
    maxTokens: int(args, 'tokens', 64)!,
    temperature: num(args, 'temperature', 0),
    topK: int(args, 'top-k', 0)!,
    seed: int(args, 'seed', 1)!,
    kvQuant,
  })) {
    process.stdout.write(tok.text);
    last = tok;
  }
  process.stdout.write('\n');
  if (last)
    process.stderr.write(
      `[${last.cachedTokens} tokens in the KV cache, ${last.kvCacheBytes} bytes as the lab holds them${kvQuant ? ` (${last.quantisedTokens} quantised: ${kvQuantLabel(kvQuant)})` : ''}]\n`,
    );
  return 0;
}

/** headlab similarity <model> --metric weight-cosine|cka|aligned (--text F | --tokens F.safetensors) [--max-tokens N] --json */
export async function similarityCommand(args: ParsedArgs): Promise<number> {
  const metric = str(args, 'metric') ?? 'cka';
  if (!METRICS.includes(metric as SimilarityMetric)) throw new UsageError(`--metric must be one of ${METRICS.join(', ')}`);
  const loaded = await loadFromArgs(args, 'similarity');
  const { model, tokenizer } = loaded;
  const maxTokens = int(args, 'max-tokens', 4096)!;
  const rt = await createNodeRuntime();
  let grams: LayerGram[] | undefined;
  if (metric !== 'weight-cosine') {
    const textPath = str(args, 'text');
    const tokensPath = str(args, 'tokens');
    if (!textPath === !tokensPath) throw new UsageError(`the ${metric} metric needs calibration data: --text F or --tokens F.safetensors`);
    let tokens: number[];
    if (textPath) {
      if (!tokenizer) throw new UsageError(`${loaded.name} has no tokenizer: give --tokenizer, or use --tokens`);
      const text = await readFile(textPath, 'utf8').catch(() => {
        throw new ModelFormatError(textPath, 'no such file');
      });
      tokens = calibrationTokens(tokenizer, text, maxTokens);
    } else {
      tokens = Array.from((await readIds(tokensPath!)).ids);
    }
    tokens = tokens.slice(0, maxTokens);
    const gm = await GpuModel.upload(rt, model);
    grams = await calibrate(gm, calibrationSequences(tokens, model.config.contextLength));
    gm.release();
  }
  const layers = [];
  for (let l = 0; l < model.config.layers; l++) {
    layers.push({
      k: await headSimilarity(model, l, 'k', metric as SimilarityMetric, grams?.[l], rt),
      v: await headSimilarity(model, l, 'v', metric as SimilarityMetric, grams?.[l], rt),
    });
  }
  const out = { metric, tokens: grams?.[0]?.n ?? 0, layers };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}
