// Models from a URL: Hugging Face repositories, llama2.c files, or any folder served over http(s). Files are fetched as
// streams with byte progress per file, can be cancelled, and are kept in the Cache API (when the browser has one) so the
// next visit needs no network. A full cache (quota) falls back to memory and says so.
import type { FileMap } from './hfFiles';
import { ModelFormatError } from './errors';
import { CancelledError, throwIfAborted } from '../progress';
import type { OnProgress } from '../progress';

export const CACHE_NAME = 'headlab-models-v1';

export interface ModelPreset {
  id: string;
  label: string;
  /** What `?model=` takes for it. */
  spec: string;
  note: string;
}

/** Small public checkpoints (downloaded from Hugging Face on demand; sizes as stored). */
export const PRESETS: ModelPreset[] = [
  {
    id: 'stories260K',
    label: 'stories260K (llama2.c, 1 MB)',
    spec: 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin',
    note: '8 query heads, 4 KV heads',
  },
  {
    id: 'stories15M',
    label: 'stories15M (llama2.c, 58 MB)',
    spec: 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories15M.bin',
    note: '6 heads; Llama 2 tokenizer from llama2.c',
  },
  { id: 'gpt2', label: 'GPT-2 small (548 MB)', spec: 'hf:openai-community/gpt2', note: '12 layers × 12 heads' },
  { id: 'tinystories-1m', label: 'TinyStories-1M (GPT-Neo)', spec: 'hf:roneneldan/TinyStories-1M', note: 'global and local attention layers' },
  { id: 'tinystories-33m', label: 'TinyStories-33M (GPT-Neo)', spec: 'hf:roneneldan/TinyStories-33M', note: 'global and local attention layers' },
  { id: 'pythia-70m', label: 'Pythia-70m (GPT-NeoX, 166 MB)', spec: 'hf:EleutherAI/pythia-70m', note: 'partial rotary, parallel residual' },
  { id: 'smollm-135m', label: 'SmolLM-135M (Llama, 270 MB)', spec: 'hf:HuggingFaceTB/SmolLM-135M', note: '9 query heads, 3 KV heads' },
];

/** llama2.c's own Llama 2 tokenizer (32000 pieces), for stories15M/42M/110M. */
const LLAMA2C_TOKENIZER = 'https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.bin';

export interface DownloadProgress {
  file: string;
  loaded: number;
  /** null when the server does not say */
  total: number | null;
  cached: boolean;
}

export interface RemoteOptions {
  signal?: AbortSignal;
  onFile?: (p: DownloadProgress) => void;
  onProgress?: OnProgress;
  /** Use the Cache API when available (default true). */
  cache?: boolean;
}

export interface RemoteResult {
  files: FileMap;
  name: string;
  /** The file named by the URL, taken as the checkpoint. */
  primary?: string;
  notes: string[];
}

class NotFound extends Error {}

async function openCache(enabled: boolean): Promise<Cache | null> {
  const c = (globalThis as { caches?: CacheStorage }).caches;
  if (!enabled || !c) return null;
  try {
    return await c.open(CACHE_NAME);
  } catch {
    return null;
  }
}

/** Downloads one file as a stream into a Blob (chunks, never one growing buffer), with progress and cancel. */
async function download(url: string, name: string, opts: RemoteOptions, cache: Cache | null, notes: string[]): Promise<Blob> {
  throwIfAborted(opts.signal);
  if (cache) {
    const hit = await cache.match(url).catch(() => undefined);
    if (hit) {
      const blob = await hit.blob();
      opts.onFile?.({ file: name, loaded: blob.size, total: blob.size, cached: true });
      return blob;
    }
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw new CancelledError('Loading was cancelled.');
    throw new ModelFormatError(
      name,
      `could not be downloaded from ${url} (${e instanceof Error ? e.message : String(e)})`,
      'Check the address and your connection; Hugging Face needs no login for public models',
    );
  }
  if (res.status === 404) throw new NotFound(url);
  if (!res.ok) {
    throw new ModelFormatError(
      name,
      `the server answered ${res.status} ${res.statusText} for ${url}`,
      res.status === 401 || res.status === 403 ? 'The model may be gated or private: download it yourself and drop the files here' : 'Try again later',
    );
  }
  const lengthHeader = res.headers.get('content-length');
  const total = lengthHeader ? Number(lengthHeader) : null;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  opts.onFile?.({ file: name, loaded, total, cached: false });
  if (res.body) {
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        loaded += value.byteLength;
        opts.onFile?.({ file: name, loaded, total, cached: false });
      }
    } catch (e) {
      if (opts.signal?.aborted) throw new CancelledError('Loading was cancelled.');
      throw new ModelFormatError(name, `the download broke off after ${loaded} bytes (${e instanceof Error ? e.message : String(e)})`, 'Try again');
    }
  } else {
    chunks.push(new Uint8Array(await res.arrayBuffer()));
  }
  const blob = new Blob(chunks as BlobPart[]);
  if (cache) {
    try {
      await cache.put(url, new Response(blob, { headers: { 'content-type': 'application/octet-stream' } }));
    } catch (e) {
      const quota = e instanceof DOMException && e.name === 'QuotaExceededError';
      notes.push(`${name} is kept in memory only: ${quota ? 'the browser cache is full' : 'the browser cache refused it'}.`);
    }
  }
  return blob;
}

async function optional(url: string, name: string, opts: RemoteOptions, cache: Cache | null, notes: string[]): Promise<Blob | null> {
  try {
    return await download(url, name, opts, cache, notes);
  } catch (e) {
    if (e instanceof NotFound) return null;
    throw e;
  }
}

async function required(url: string, name: string, opts: RemoteOptions, cache: Cache | null, notes: string[], advice: string): Promise<Blob> {
  try {
    return await download(url, name, opts, cache, notes);
  } catch (e) {
    if (e instanceof NotFound) throw new ModelFormatError(name, `not found at ${url}`, advice);
    throw e;
  }
}

/** `hf:owner/repo`, `owner/repo`, or https://huggingface.co/owner/repo[/tree/rev] → a base URL of raw files. */
export function huggingFaceBase(spec: string): { base: string; repo: string } | null {
  let m = /^hf:([\w.-]+\/[\w.-]+)(?:@([\w./-]+))?$/.exec(spec);
  if (m) return { base: `https://huggingface.co/${m[1]}/resolve/${m[2] ?? 'main'}/`, repo: m[1] };
  m = /^https:\/\/huggingface\.co\/([\w.-]+\/[\w.-]+)\/?(?:tree\/([\w.-]+)\/?)?$/.exec(spec);
  if (m) return { base: `https://huggingface.co/${m[1]}/resolve/${m[2] ?? 'main'}/`, repo: m[1] };
  m = /^([\w.-]+\/[\w.-]+)$/.exec(spec);
  if (m && !spec.includes('.bin') && !spec.includes('.safetensors')) return { base: `https://huggingface.co/${m[1]}/resolve/main/`, repo: m[1] };
  return null;
}

/** A folder's files: config.json, the weights (one file or the shards of the index), the tokenizer when present. */
async function fetchFolder(base: string, label: string, opts: RemoteOptions, cache: Cache | null, notes: string[]): Promise<FileMap> {
  const files: FileMap = new Map();
  const at = (f: string) => new URL(f, base).href;
  files.set('config.json', await required(at('config.json'), 'config.json', opts, cache, notes, `Is ${label} a Hugging Face model folder?`));
  const index = await optional(at('model.safetensors.index.json'), 'model.safetensors.index.json', opts, cache, notes);
  if (index) {
    files.set('model.safetensors.index.json', index);
    let shards: string[];
    try {
      shards = [...new Set(Object.values((JSON.parse(await index.text()) as { weight_map: Record<string, string> }).weight_map))];
    } catch {
      throw new ModelFormatError('model.safetensors.index.json', 'it does not parse or has no weight_map');
    }
    for (const s of shards) files.set(s, await required(at(s), s, opts, cache, notes, 'A shard named by the index is missing from the repository'));
  } else {
    files.set(
      'model.safetensors',
      await required(
        at('model.safetensors'),
        'model.safetensors',
        opts,
        cache,
        notes,
        `${label} has no model.safetensors; headlab reads safetensors (convert PyTorch .bin checkpoints with transformers)`,
      ),
    );
  }
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    const b = await optional(at(f), f, opts, cache, notes);
    if (b) files.set(f, b);
  }
  return files;
}

/** The vocabulary size in a llama2.c header (legacy or version 1), to find its tok<vocab>.bin. */
async function llama2cVocab(blob: Blob): Promise<number> {
  const v = new DataView(await blob.slice(0, 40).arrayBuffer());
  if (v.byteLength >= 36 && v.getUint32(0, true) === 0x616b3432) return v.getInt32(28, true);
  return v.byteLength >= 24 ? Math.abs(v.getInt32(20, true)) : 0;
}

/**
 * Fetches a model named by `spec`: `hf:owner/repo`, a huggingface.co repository address, a URL (absolute or relative to the
 * page) of a llama2.c .bin (its tokenizer is looked for beside it: tok<vocab>.bin, tokenizer.bin), of a .safetensors file,
 * or of a folder ending in "/" holding config.json.
 */
export async function fetchModel(spec: string, opts: RemoteOptions = {}, pageUrl = globalThis.location?.href ?? 'http://localhost/'): Promise<RemoteResult> {
  const notes: string[] = [];
  const cache = await openCache(opts.cache !== false);
  const hf = huggingFaceBase(spec.trim());
  if (hf) return { files: await fetchFolder(hf.base, hf.repo, opts, cache, notes), name: hf.repo, notes };
  let url: URL;
  try {
    url = new URL(spec.trim(), pageUrl);
  } catch {
    throw new ModelFormatError(
      spec,
      'is not a URL or a Hugging Face repository',
      'Use hf:owner/name, https://huggingface.co/owner/name, or the address of a .bin or .safetensors file',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ModelFormatError(spec, `the ${url.protocol} scheme is not supported`, 'Use an http(s) address');
  const file = decodeURIComponent(url.pathname.split('/').pop() ?? '');
  if (file === '' || !file.includes('.'))
    return { files: await fetchFolder(url.href.endsWith('/') ? url.href : `${url.href}/`, url.href, opts, cache, notes), name: url.href, notes };
  if (file.endsWith('.safetensors')) {
    const files = await fetchFolder(new URL('.', url).href, url.href, opts, cache, notes);
    return { files, name: file, notes };
  }
  const files: FileMap = new Map();
  const blob = await required(url.href, file, opts, cache, notes, 'Check the address');
  files.set(file, blob);
  const vocab = await llama2cVocab(blob);
  for (const tok of [`tok${vocab}.bin`, 'tokenizer.bin']) {
    const t = await optional(new URL(tok, url).href, tok, opts, cache, notes);
    if (t) {
      files.set(tok, t);
      break;
    }
  }
  if (![...files.keys()].some((k) => /^tok(enizer|\d+)\.bin$/.test(k)) && vocab === 32000) {
    const t = await optional(LLAMA2C_TOKENIZER, 'tokenizer.bin', opts, cache, notes);
    if (t) {
      files.set('tokenizer.bin', t);
      notes.push("Tokenizer: llama2.c's Llama 2 tokenizer.bin (32000 pieces).");
    }
  }
  return { files, name: file, primary: file, notes };
}

export async function clearModelCache(): Promise<boolean> {
  const c = (globalThis as { caches?: CacheStorage }).caches;
  if (!c) return false;
  return c.delete(CACHE_NAME);
}
