// Malformed input: each problem gets its own message naming the file, and never a crash. Also the families without a
// shared fixture (Qwen2, GPT-Neo) and llama2.c version 1, built here with our writers.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadModelFiles } from '../src/model/load';
import { readSafetensorsHeader, writeSafetensors, type TensorToWrite } from '../src/model/safetensors';
import { loadLlama2c, writeLlama2cLegacy } from '../src/model/llama2c';
import { ModelFormatError } from '../src/model/errors';
import { randomArray } from '../src/reference/linalg';
import { testdata } from './testdata';
import { folder, gptNeoFiles } from './synthetic';

const blob = (bytes: Uint8Array | string) => new Blob([bytes as BlobPart]);
const header = (json: unknown, data = new Uint8Array(0)) => {
  const j = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(8 + j.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
  out.set(j, 8);
  out.set(data, 8 + j.length);
  return out;
};

async function problem(bytes: Uint8Array | string, name = 'model.safetensors'): Promise<string> {
  try {
    await readSafetensorsHeader(blob(bytes), name);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFormatError);
    return (e as Error).message;
  }
  throw new Error('no error was raised');
}

const llamaConfig = JSON.stringify({
  architectures: ['LlamaForCausalLM'],
  hidden_size: 8,
  num_attention_heads: 2,
  num_key_value_heads: 2,
  intermediate_size: 12,
  vocab_size: 10,
  num_hidden_layers: 1,
  max_position_embeddings: 16,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
});

function llamaTensors(): TensorToWrite[] {
  const t = (name: string, shape: number[]): TensorToWrite => ({
    name,
    dtype: 'F32',
    shape,
    data: randomArray(
      shape.reduce((a, b) => a * b, 1),
      name.length,
    ),
  });
  return [
    t('model.embed_tokens.weight', [10, 8]),
    t('model.layers.0.input_layernorm.weight', [8]),
    t('model.layers.0.post_attention_layernorm.weight', [8]),
    t('model.layers.0.self_attn.q_proj.weight', [8, 8]),
    t('model.layers.0.self_attn.k_proj.weight', [8, 8]),
    t('model.layers.0.self_attn.v_proj.weight', [8, 8]),
    t('model.layers.0.self_attn.o_proj.weight', [8, 8]),
    t('model.layers.0.mlp.gate_proj.weight', [12, 8]),
    t('model.layers.0.mlp.up_proj.weight', [12, 8]),
    t('model.layers.0.mlp.down_proj.weight', [8, 12]),
    t('model.norm.weight', [8]),
  ];
}

describe('malformed safetensors', () => {
  it('empty file', async () => expect(await problem(new Uint8Array(0))).toMatch(/model\.safetensors: the file is empty/));
  it('shorter than the length field', async () => expect(await problem(new Uint8Array([1, 2, 3]))).toMatch(/too short/));
  it('header length past the end', async () => {
    const b = header({});
    new DataView(b.buffer).setBigUint64(0, 5000n, true);
    expect(await problem(b)).toMatch(/header length \(5000 bytes\) runs past the end/);
  });
  it('absurd header length', async () => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
    expect(await problem(b)).toMatch(/above the 100 MB limit/);
  });
  it('broken JSON', async () => {
    const j = new TextEncoder().encode('{"a": {"dtype": "F32",');
    const b = new Uint8Array(8 + j.length);
    new DataView(b.buffer).setBigUint64(0, BigInt(j.length), true);
    b.set(j, 8);
    expect(await problem(b)).toMatch(/JSON header does not parse/);
  });
  it('unknown dtype', async () =>
    expect(await problem(header({ w: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)))).toMatch(/"w" has unknown dtype "F17"/));
  it('byte length does not match the shape', async () =>
    expect(await problem(header({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)))).toMatch(
      /should take 12 bytes but its offsets span 8/,
    ));
  it('overlapping offsets', async () => {
    const json = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expect(await problem(header(json, new Uint8Array(12)))).toMatch(/tensors "a" and "b" overlap/);
  });
  it('a gap between tensors', async () => {
    const json = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
    expect(await problem(header(json, new Uint8Array(12)))).toMatch(/4 bytes before tensor "b" belong to no tensor/);
  });
  it('truncated file', async () => {
    const full = writeSafetensors(llamaTensors());
    expect(await problem(full.subarray(0, full.length - 100))).toMatch(/ends at byte \d+ but the file has only \d+ bytes.*truncated/);
  });
  it('a GGUF file given as safetensors', async () => expect(await problem(new TextEncoder().encode('GGUF\x03\0\0\0rest-of-file'))).toMatch(/GGUF file/));
  it('a ZIP (PyTorch) file given as safetensors', async () =>
    expect(await problem(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0]))).toMatch(/ZIP archive/));
});

describe('malformed checkpoints', () => {
  it('a good folder written by our writer loads', async () => {
    const { model } = await loadModelFiles(folder({ 'config.json': llamaConfig, 'model.safetensors': writeSafetensors(llamaTensors()) }));
    expect(model.config.family).toBe('llama');
  });
  it('a tensor with the wrong shape', async () => {
    const ts = llamaTensors();
    ts[3] = { ...ts[3], shape: [4, 16] };
    await expect(loadModelFiles(folder({ 'config.json': llamaConfig, 'model.safetensors': writeSafetensors(ts) }))).rejects.toThrow(
      /model\.safetensors: tensor "model\.layers\.0\.self_attn\.q_proj\.weight" has shape \[4,16\], expected \[8,8\]/,
    );
  });
  it('a missing tensor', async () => {
    const ts = llamaTensors().filter((t) => !t.name.includes('down_proj'));
    await expect(loadModelFiles(folder({ 'config.json': llamaConfig, 'model.safetensors': writeSafetensors(ts) }))).rejects.toThrow(
      /tensor "model\.layers\.0\.mlp\.down_proj\.weight" is missing \(LlamaForCausalLM needs it\)/,
    );
  });
  it('broken config.json', async () => {
    await expect(loadModelFiles(folder({ 'config.json': '{"architectures": [', 'model.safetensors': writeSafetensors(llamaTensors()) }))).rejects.toThrow(
      /config\.json: the JSON does not parse/,
    );
  });
  it('an unsupported architecture names the supported ones', async () => {
    const cfg = JSON.stringify({ architectures: ['MambaForCausalLM'] });
    await expect(loadModelFiles(folder({ 'config.json': cfg, 'model.safetensors': writeSafetensors(llamaTensors()) }))).rejects.toThrow(
      /architecture MambaForCausalLM is not supported.*LlamaForCausalLM, GPT2LMHeadModel, GPTNeoXForCausalLM, Qwen2ForCausalLM, GPTNeoForCausalLM/,
    );
  });
  it('safetensors without config.json', async () => {
    await expect(loadModelFiles(folder({ 'model.safetensors': writeSafetensors(llamaTensors()) }))).rejects.toThrow(/config\.json is missing/);
  });
  it('a shard named by the index is missing', async () => {
    const index = JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } });
    await expect(
      loadModelFiles(
        folder({ 'config.json': llamaConfig, 'model.safetensors.index.json': index, 'model-00001-of-00002.safetensors': writeSafetensors(llamaTensors()) }),
      ),
    ).rejects.toThrow(/1 of its 2 shards are missing \(model-00002-of-00002\.safetensors\)/);
  });
  it('a truncated llama2.c checkpoint', async () => {
    const bytes = readFileSync(testdata('data/stories260K.bin'));
    await expect(loadModelFiles(folder({ 'stories260K.bin': bytes.subarray(0, 200_000) }))).rejects.toThrow(
      /stories260K\.bin: the file ends at byte 200000, inside wq .*truncated/,
    );
  });
  it('an empty .bin and a GGUF .bin', async () => {
    await expect(loadModelFiles(folder({ 'x.bin': new Uint8Array(0) }))).rejects.toThrow(/x\.bin: the file is empty/);
    await expect(loadModelFiles(folder({ 'x.bin': 'GGUF\x03\0\0\0' + 'x'.repeat(64) }))).rejects.toThrow(/x\.bin: this is a GGUF file/);
  });
  it('a text file given as llama2.c', async () => {
    await expect(loadModelFiles(folder({ 'notes.bin': 'hello world, this is not a model at all' }))).rejects.toThrow(
      /notes\.bin: the header .* is not a llama2\.c model/,
    );
  });
});

describe('families and formats without a shared fixture', () => {
  it('Qwen2: q/k/v biases, no o bias, GQA', async () => {
    const cfg = JSON.stringify({
      architectures: ['Qwen2ForCausalLM'],
      hidden_size: 8,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      intermediate_size: 12,
      vocab_size: 10,
      num_hidden_layers: 1,
      max_position_embeddings: 16,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      tie_word_embeddings: false,
      hidden_act: 'silu',
    });
    const ts = llamaTensors().map((t) => (/[kv]_proj\.weight/.test(t.name) ? { ...t, shape: [4, 8], data: t.data.slice(0, 32) } : t));
    ts.push(
      { name: 'model.layers.0.self_attn.q_proj.bias', dtype: 'F32', shape: [8], data: randomArray(8, 1) },
      { name: 'model.layers.0.self_attn.k_proj.bias', dtype: 'F32', shape: [4], data: randomArray(4, 2) },
      { name: 'model.layers.0.self_attn.v_proj.bias', dtype: 'F32', shape: [4], data: randomArray(4, 3) },
      { name: 'lm_head.weight', dtype: 'F32', shape: [10, 8], data: randomArray(80, 4) },
    );
    const { model } = await loadModelFiles(folder({ 'config.json': cfg, 'model.safetensors': writeSafetensors(ts) }));
    expect(model.config.family).toBe('qwen2');
    expect(model.config.attentionBias).toEqual({ q: true, k: true, v: true, o: false });
    expect(model.config.positional).toMatchObject({ style: 'half', theta: 1000000 });
    expect(model.layers[0].kv.kHeadOf).toEqual([0, 0]);
    expect(model.layers[0].attn.bk).toEqual(randomArray(4, 2));
    expect(model.lmHead).not.toBe(model.embed);
  });

  it('GPT-Neo: global and local layers with the window, unscaled scores, learned positions', async () => {
    const { model } = await loadModelFiles(gptNeoFiles());
    expect(model.config.family).toBe('gpt-neo');
    expect(model.config.attentionWindow).toEqual([null, 4]);
    expect(model.config.attentionScale).toBe(1);
    expect(model.config.ffnDim).toBe(32);
    expect(model.lmHead).toBe(model.embed);
  });

  it('llama2.c version 1 ("ak42") reads the same weights as the legacy file', async () => {
    const legacy = await loadLlama2c(new Blob([readFileSync(testdata('data/stories260K.bin'))]), 'stories260K.bin');
    const c = legacy.config;
    // version 1 layout: 256-byte header, then norms, embedding, wq, wk, wv, wo, w1, w2, w3 (shared classifier)
    const head = new Uint8Array(256);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, 0x616b3432, true);
    dv.setInt32(4, 1, true);
    [c.dim, c.ffnDim, c.layers, c.heads, legacy.layers[0].kv.kHeads, c.vocab, c.contextLength].forEach((v, i) => dv.setInt32(8 + 4 * i, v, true));
    dv.setUint8(36, 1);
    const parts: Float32Array[] = [
      ...legacy.layers.map((l) => l.attnNorm.weight),
      ...legacy.layers.map((l) => l.mlpNorm.weight),
      legacy.finalNorm.weight,
      legacy.embed,
      ...(['wq', 'wk', 'wv', 'wo'] as const).flatMap((k) => legacy.layers.map((l) => l.attn[k])),
      ...legacy.layers.map((l) => l.mlp.gate!),
      ...legacy.layers.map((l) => l.mlp.down),
      ...legacy.layers.map((l) => l.mlp.up),
    ];
    const v1 = await loadLlama2c(new Blob([head, ...parts.map((p) => p.slice())]), 'v1.bin');
    expect(v1.config.architecture).toBe('llama2.c v1');
    expect(v1.embed).toEqual(legacy.embed);
    expect(v1.layers[4].mlp.down).toEqual(legacy.layers[4].mlp.down);
    expect(v1.layers[1].attn.wk).toEqual(legacy.layers[1].attn.wk);
  });

  it('the legacy writer round-trips a checkpoint byte for byte', async () => {
    const bytes = readFileSync(testdata('data/tinystories-mha.bin'));
    const model = await loadLlama2c(new Blob([bytes]), 'tinystories-mha.bin');
    const out = writeLlama2cLegacy(model);
    expect(out.length).toBe(bytes.length);
    // RoPE tables are recomputed in float64 → f32; weights must be identical
    const again = await loadLlama2c(new Blob([out as BlobPart]), 'again.bin');
    expect(again.layers[3].attn.wo).toEqual(model.layers[3].attn.wo);
    expect(again.embed).toEqual(model.embed);
  });
});
