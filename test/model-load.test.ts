// Loading real checkpoints from the repository's testdata/ into the family-free Model, and their tokenizers.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { openAsBlob } from 'node:fs';
import { filesFromPath } from '../src/model/node-files';
import { loadModelFiles } from '../src/model/load';
import { expandToMha, headWeights, isMha, kvBytesPerToken, parameterCount, planGpuMemory, validateModel } from '../src/model/heads';
import { readIntTensor, readSafetensorsHeader } from '../src/model/safetensors';
import { Llama2cTokenizer } from '../src/model/tokenizer';
import { testdata } from './testdata';

async function load(p: string) {
  const { files, name } = await filesFromPath(p);
  return loadModelFiles(files, { name });
}

describe('Hugging Face fixtures', () => {
  it.each([
    ['gpt2', 'gpt2', 2, 4, 4, 64, 320, true, 'layernorm'],
    ['gpt2-f16', 'gpt2', 2, 4, 4, 64, 320, true, 'layernorm'],
    ['llama-mha', 'llama', 2, 4, 4, 64, 320, false, 'rmsnorm'],
    ['llama-gqa-bf16', 'llama', 2, 4, 2, 64, 320, true, 'rmsnorm'],
    ['llama-mha-sharded', 'llama', 3, 4, 4, 64, 320, false, 'rmsnorm'],
    ['gpt-neox', 'gpt-neox', 2, 4, 4, 64, 320, false, 'layernorm'],
  ] as const)('%s loads as %s with the right shapes', async (dir, family, layers, heads, kvHeads, dim, vocab, tied, norm) => {
    const { model } = await load(testdata('fixtures/hf', dir));
    const c = model.config;
    expect(c.family).toBe(family);
    expect([c.layers, c.heads, c.dim, c.vocab, c.norm]).toEqual([layers, heads, dim, vocab, norm]);
    expect(c.tiedEmbeddings).toBe(tied);
    expect(model.lmHead === model.embed).toBe(tied);
    for (const l of model.layers) expect([l.kv.kHeads, l.kv.vHeads]).toEqual([kvHeads, kvHeads]);
    validateModel(model);
    for (const [name, t] of Object.entries({ embed: model.embed, lmHead: model.lmHead })) {
      expect(t.every(Number.isFinite), name).toBe(true);
    }
  });

  it('reads config details: GQA maps, rotary kinds, parallel residual, activations', async () => {
    const gqa = (await load(testdata('fixtures/hf/llama-gqa-bf16'))).model;
    expect(gqa.layers[0].kv.kHeadOf).toEqual([0, 0, 1, 1]);
    expect(gqa.config.positional).toEqual({ kind: 'rotary', style: 'half', fraction: 1, theta: 10000, invFreqPrecision: 'bf16' });
    expect(gqa.config.headDim).toBe(16);
    expect(gqa.config.normEps).toBe(1e-6);
    const neox = (await load(testdata('fixtures/hf/gpt-neox'))).model;
    expect(neox.config.positional).toEqual({ kind: 'rotary', style: 'half', fraction: 0.25, theta: 10000, invFreqPrecision: 'f32' });
    expect(neox.config.parallelResidual).toBe(true);
    expect(neox.config.mlp).toBe('gelu_erf');
    expect(neox.config.attentionBias).toEqual({ q: true, k: true, v: true, o: true });
    const gpt2 = (await load(testdata('fixtures/hf/gpt2'))).model;
    expect(gpt2.config.positional.kind).toBe('learned');
    expect(gpt2.config.mlp).toBe('gelu_tanh');
    expect(gpt2.positionEmbed!.length).toBe(128 * 64);
    expect(gpt2.config.attentionScale).toBeCloseTo(1 / 4, 12);
  });

  it('un-fuses GPT-2 c_attn from Conv1D (in × out) into q, k, v rows', async () => {
    const dir = testdata('fixtures/hf/gpt2');
    const { model } = await load(dir);
    const file = await readSafetensorsHeader(await openAsBlob(`${dir}/model.safetensors`), 'model.safetensors');
    const info = file.tensors.get('transformer.h.1.attn.c_attn.weight')!;
    const raw = new Float32Array(await file.blob.slice(info.start, info.end).arrayBuffer()); // [64 in, 192 out]
    const D = 64;
    const a = model.layers[1].attn;
    for (const [r, c] of [
      [0, 0],
      [5, 17],
      [63, 63],
    ]) {
      expect(a.wq[r * D + c]).toBe(raw[c * 3 * D + r]); // q row r, input c  =  c_attn[in c, out r]
      expect(a.wk[r * D + c]).toBe(raw[c * 3 * D + D + r]);
      expect(a.wv[r * D + c]).toBe(raw[c * 3 * D + 2 * D + r]);
    }
  });

  it('un-fuses GPT-NeoX query_key_value, laid out per head', async () => {
    const dir = testdata('fixtures/hf/gpt-neox');
    const { model } = await load(dir);
    const file = await readSafetensorsHeader(await openAsBlob(`${dir}/model.safetensors`), 'model.safetensors');
    const info = file.tensors.get('gpt_neox.layers.0.attention.query_key_value.weight')!;
    const raw = new Float32Array(await file.blob.slice(info.start, info.end).arrayBuffer()); // [192, 64]
    const D = 64;
    const dh = 16;
    const h = 2;
    const i = 3;
    const c = 10;
    // head h's rows in the fused matrix: q at (3h)·dh, k at (3h+1)·dh, v at (3h+2)·dh
    expect(headWeights(model, 0, 'q', h)[i * D + c]).toBe(raw[(3 * h * dh + i) * D + c]);
    expect(headWeights(model, 0, 'k', h)[i * D + c]).toBe(raw[((3 * h + 1) * dh + i) * D + c]);
    expect(headWeights(model, 0, 'v', h)[i * D + c]).toBe(raw[((3 * h + 2) * dh + i) * D + c]);
  });

  it('widens F16 and BF16 exactly', async () => {
    const { model } = await load(testdata('fixtures/hf/llama-gqa-bf16'));
    // every BF16 value has zero low 16 bits once widened
    const bits = new Uint32Array(model.embed.buffer, model.embed.byteOffset, model.embed.length);
    expect(bits.every((b) => (b & 0xffff) === 0)).toBe(true);
    const f16 = (await load(testdata('fixtures/hf/gpt2-f16'))).model;
    // F16 has 11 significant bits: each value times 2^(10 − exponent) is an integer
    const ok = [...f16.embed.subarray(0, 1000)].every((v) => v === 0 || Number.isInteger(v * 2 ** (10 - Math.floor(Math.log2(Math.abs(v))))));
    expect(ok).toBe(true);
  });

  it('reads the golden input_ids (I32) of a fixture', async () => {
    const file = await readSafetensorsHeader(await openAsBlob(testdata('fixtures/hf/gpt2/golden.safetensors')), 'golden.safetensors');
    const ids = await readIntTensor(file, file.tensors.get('input_ids')!);
    expect(file.tensors.get('input_ids')!.shape).toEqual([2, 24]);
    expect(ids.every((v) => v >= 0 && v < 320)).toBe(true);
  });
});

describe('llama2.c checkpoints', () => {
  it('stories260K: 5 layers, 8 query heads sharing 4 KV heads', async () => {
    const { model, tokenizer } = await load(testdata('data/stories260K.bin'));
    const c = model.config;
    expect([c.layers, c.dim, c.heads, c.headDim, c.ffnDim, c.vocab, c.contextLength]).toEqual([5, 64, 8, 8, 172, 512, 512]);
    expect(c.positional).toEqual({ kind: 'rotary', style: 'interleaved', fraction: 1, theta: 10000 });
    expect(model.layers[0].kv).toEqual({ kHeads: 4, vHeads: 4, kHeadOf: [0, 0, 1, 1, 2, 2, 3, 3], vHeadOf: [0, 0, 1, 1, 2, 2, 3, 3] });
    expect(c.tiedEmbeddings).toBe(true);
    expect(tokenizer?.kind).toBe('llama2c');
    expect(parameterCount(model)).toBe(512 * 64 + 5 * (64 * 2 + 64 * 64 * 2 + 32 * 64 * 2 + 172 * 64 * 3) + 64);
    expect(kvBytesPerToken(model)).toBe(5 * 2 * 4 * 8 * 4);
  });

  it('tinystories-mha: 4 layers of 8 genuine heads', async () => {
    const { model } = await load(testdata('data/tinystories-mha.bin'));
    expect([model.config.layers, model.config.heads, model.config.dim, model.config.contextLength]).toEqual([4, 8, 128, 256]);
    expect(model.layers.every((l) => isMha(l.kv))).toBe(true);
  });

  it('tok512 encodes the first sample story as transformers did (first 64 ids)', async () => {
    const ref = JSON.parse(readFileSync(testdata('fixtures/stories260K-reference.json'), 'utf8'));
    const text = readFileSync(testdata('data/tinystories_sample.txt'), 'utf8').split('<|endoftext|>')[0].trim();
    const tok = Llama2cTokenizer.parse(readFileSync(testdata('data/tok512.bin')).buffer as ArrayBuffer, 512, 'tok512.bin');
    const ids = tok.encode(text);
    expect(ids.slice(0, 64)).toEqual(ref.sample_tokens_first_story);
    expect(tok.decode(ids)).toBe(text);
  });

  it('the built-in demo loads with its byte tokenizer (BOS, then the bytes of " " + text, each + 3)', async () => {
    const { model, tokenizer } = await load(testdata('data/demo/demo-mha-bytes.bin'));
    expect([model.config.vocab, model.config.heads, model.config.layers, model.config.contextLength]).toEqual([259, 8, 4, 512]);
    expect(tokenizer!.encode('Hi!')).toEqual([1, 0x20 + 3, 0x48 + 3, 0x69 + 3, 0x21 + 3]);
    expect(tokenizer!.decode(tokenizer!.encode('Once upon a time, é'))).toBe('Once upon a time, é');
  });

  it('expands stories260K to its exact MHA equivalent', async () => {
    const { model } = await load(testdata('data/stories260K.bin'));
    const mha = expandToMha(model);
    validateModel(mha);
    expect(mha.layers.every((l) => isMha(l.kv))).toBe(true);
    for (let h = 0; h < 8; h++) {
      expect(headWeights(mha, 2, 'k', h)).toEqual(headWeights(model, 2, 'k', Math.floor(h / 2)));
      expect(headWeights(mha, 2, 'v', h)).toEqual(headWeights(model, 2, 'v', Math.floor(h / 2)));
    }
    expect(kvBytesPerToken(mha)).toBe(2 * kvBytesPerToken(model));
  });

  it('plans GPU memory and splits a tensor larger than one binding instead of refusing it', async () => {
    const { model } = await load(testdata('data/tinystories-mha.bin'));
    const roomy = planGpuMemory(model, { maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 1 << 30 });
    expect(roomy.split).toEqual([]);
    expect(roomy.weightBytes).toBe(parameterCount(model) * 4);
    const tight = planGpuMemory(model, { maxStorageBufferBindingSize: 200_000, maxBufferSize: 1 << 30 });
    const embed = tight.split.find((s) => s.name === 'embed')!;
    expect(embed.bindings).toBe(Math.ceil(512 / Math.floor(200_000 / (128 * 4))));
    // an MLP matrix above the limit is refused with its name and size
    expect(() => planGpuMemory(model, { maxStorageBufferBindingSize: 100_000, maxBufferSize: 1 << 30 })).toThrow(
      /Tensor layers\.0\.mlp\.gate needs 172\.0 KiB, more than this GPU's storage binding limit/,
    );
    expect(() => planGpuMemory(model, { maxStorageBufferBindingSize: 256, maxBufferSize: 1 << 30 })).toThrow(/Tensor embed: one row is 512 B/);
  });
});
