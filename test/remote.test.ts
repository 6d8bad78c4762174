// Fetching models by URL: Hugging Face addresses, streamed downloads with byte progress, tokenizer discovery, shards, and
// errors that say what to do. fetch is replaced by a local file server; no network.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { fetchModel, huggingFaceBase, type DownloadProgress } from '../src/model/remote';
import { loadModelFiles } from '../src/model/load';
import { CancelledError } from '../src/progress';
import { testdata } from './testdata';

/** Serves files by URL as streams of 64 KiB chunks, with content-length. */
function serve(routes: Record<string, string>) {
  const requested: string[] = [];
  vi.stubGlobal('fetch', async (url: string, init?: { signal?: AbortSignal }) => {
    requested.push(url);
    if (init?.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const file = routes[url];
    if (!file) return new Response('not found', { status: 404, statusText: 'Not Found' });
    const bytes = readFileSync(file);
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= bytes.length) return c.close();
        c.enqueue(new Uint8Array(bytes.subarray(at, at + 65536)));
        at += 65536;
      },
    });
    return new Response(body, { headers: { 'content-length': String(bytes.length) } });
  });
  return requested;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('model URLs', () => {
  it('reads Hugging Face repository names and addresses', () => {
    expect(huggingFaceBase('hf:EleutherAI/pythia-70m')?.base).toBe('https://huggingface.co/EleutherAI/pythia-70m/resolve/main/');
    expect(huggingFaceBase('https://huggingface.co/HuggingFaceTB/SmolLM-135M')?.repo).toBe('HuggingFaceTB/SmolLM-135M');
    expect(huggingFaceBase('https://huggingface.co/openai-community/gpt2/tree/refs-pr-1')?.base).toContain('/resolve/refs-pr-1/');
    expect(huggingFaceBase('https://example.com/x.bin')).toBeNull();
  });

  it('streams a llama2.c file with byte progress and finds tok<vocab>.bin beside it', async () => {
    const requested = serve({
      'https://models.test/s/stories260K.bin': testdata('data/stories260K.bin'),
      'https://models.test/s/tok512.bin': testdata('data/tok512.bin'),
    });
    const events: DownloadProgress[] = [];
    const r = await fetchModel('https://models.test/s/stories260K.bin', { onFile: (p) => events.push({ ...p }) });
    expect([...r.files.keys()]).toEqual(['stories260K.bin', 'tok512.bin']);
    expect(requested).toEqual(['https://models.test/s/stories260K.bin', 'https://models.test/s/tok512.bin']);
    const model = events.filter((e) => e.file === 'stories260K.bin');
    expect(model.length).toBeGreaterThan(10);
    expect(model.every((e, i) => i === 0 || e.loaded >= model[i - 1].loaded)).toBe(true);
    expect(model.at(-1)).toEqual({ file: 'stories260K.bin', loaded: 1056540, total: 1056540, cached: false });
    const loaded = await loadModelFiles(r.files, { name: r.name, primary: r.primary });
    expect(loaded.tokenizer?.kind).toBe('llama2c');
  });

  it('fetches a sharded Hugging Face repository through its index', async () => {
    const dir = testdata('fixtures/hf/llama-mha-sharded');
    const routes: Record<string, string> = {};
    for (const f of readdirSync(dir)) routes[`https://huggingface.co/test/sharded/resolve/main/${f}`] = `${dir}/${f}`;
    serve(routes);
    const r = await fetchModel('hf:test/sharded');
    expect(r.files.size).toBe(19); // config, index, 17 shards (no tokenizer in the fixture)
    const { model } = await loadModelFiles(r.files);
    expect(model.config.layers).toBe(3);
  });

  it('a repository without model.safetensors says so and what to do', async () => {
    serve({ 'https://huggingface.co/a/b/resolve/main/config.json': testdata('fixtures/hf/gpt2/config.json') });
    await expect(fetchModel('hf:a/b')).rejects.toThrow(/model\.safetensors: not found .* a\/b has no model\.safetensors; headlab reads safetensors/);
  });

  it('a cancelled download raises CancelledError', async () => {
    serve({ 'https://models.test/x.bin': testdata('data/stories260K.bin') });
    const c = new AbortController();
    c.abort();
    await expect(fetchModel('https://models.test/x.bin', { signal: c.signal })).rejects.toBeInstanceOf(CancelledError);
  });

  it('refuses what is not a URL', async () => {
    await expect(fetchModel('ftp://example.com/model.bin')).rejects.toThrow(/ftp: scheme is not supported/);
  });
});
