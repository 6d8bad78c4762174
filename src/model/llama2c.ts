// llama2.c checkpoints (karpathy/llama2.c): the legacy .bin (7 int32 header, then f32 weights in a fixed order) and
// version 1 (magic "ak42", 256-byte header). Llama with RMSNorm, SwiGLU and RoPE on interleaved pairs (θ = 10000).
import type { LayerWeights, Model, ModelConfig } from './types';
import { gqaLayout } from './heads';
import { ModelFormatError } from './errors';
import { throwIfAborted } from '../progress';
import type { LongWorkOptions } from '../progress';

const LEGACY_HEADER = 7 * 4;
const V1_HEADER = 256;
const V1_MAGIC = 0x616b3432;

interface Header {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
  sharedClassifier: boolean;
  version: 0 | 1;
  offset: number;
}

async function readHeader(blob: Blob, name: string): Promise<Header> {
  if (blob.size === 0) throw new ModelFormatError(name, 'the file is empty');
  if (blob.size < LEGACY_HEADER) throw new ModelFormatError(name, `the file has ${blob.size} bytes, too short for a llama2.c header`);
  const view = new DataView(await blob.slice(0, Math.min(blob.size, V1_HEADER)).arrayBuffer());
  if (view.getUint32(0, true) === V1_MAGIC) {
    const version = view.getInt32(4, true);
    if (version !== 1) throw new ModelFormatError(name, `llama2.c version ${version} is not supported (headlab reads the legacy format and version 1)`);
    const i = (k: number) => view.getInt32(8 + 4 * k, true);
    return {
      dim: i(0),
      hidden: i(1),
      layers: i(2),
      heads: i(3),
      kvHeads: i(4),
      vocab: i(5),
      seqLen: i(6),
      sharedClassifier: view.getUint8(36) === 1,
      version: 1,
      offset: V1_HEADER,
    };
  }
  const i = (k: number) => view.getInt32(4 * k, true);
  const vocab = i(5);
  return {
    dim: i(0),
    hidden: i(1),
    layers: i(2),
    heads: i(3),
    kvHeads: i(4),
    vocab: Math.abs(vocab),
    seqLen: i(6),
    sharedClassifier: vocab > 0,
    version: 0,
    offset: LEGACY_HEADER,
  };
}

function checkHeader(h: Header, name: string) {
  const sane = (v: number, max: number) => Number.isInteger(v) && v > 0 && v <= max;
  if (
    !sane(h.dim, 1 << 16) ||
    !sane(h.hidden, 1 << 18) ||
    !sane(h.layers, 1024) ||
    !sane(h.heads, 1024) ||
    !sane(h.kvHeads, 1024) ||
    !sane(h.vocab, 1 << 20) ||
    !sane(h.seqLen, 1 << 20)
  ) {
    throw new ModelFormatError(
      name,
      `the header (dim ${h.dim}, hidden ${h.hidden}, layers ${h.layers}, heads ${h.heads}, kv heads ${h.kvHeads}, vocab ${h.vocab}, seq ${h.seqLen}) is not a llama2.c model`,
      'Pick a llama2.c .bin checkpoint, or a Hugging Face folder with config.json',
    );
  }
  if (h.dim % h.heads !== 0 || h.heads % h.kvHeads !== 0) {
    throw new ModelFormatError(name, `dim ${h.dim}, ${h.heads} heads and ${h.kvHeads} KV heads do not divide evenly`);
  }
}

/** Reads a llama2.c checkpoint tensor by tensor (Blob slices). */
export async function loadLlama2c(blob: Blob, name: string, opts: LongWorkOptions = {}): Promise<Model> {
  const h = await readHeader(blob, name);
  checkHeader(h, name);
  const headDim = h.dim / h.heads;
  const kvDim = h.kvHeads * headDim;
  const L = h.layers;
  const D = h.dim;
  const F = h.hidden;
  let offset = h.offset;
  const tensorCount = 9 * L + 3;
  let read = 0;
  const take = async (label: string, n: number): Promise<Float32Array> => {
    throwIfAborted(opts.signal);
    const end = offset + n * 4;
    if (end > blob.size) {
      throw new ModelFormatError(
        name,
        `the file ends at byte ${blob.size}, inside ${label} (which needs bytes ${offset}–${end})`,
        'The file is truncated; download it again',
      );
    }
    const out = new Float32Array(await blob.slice(offset, end).arrayBuffer());
    offset = end;
    opts.onProgress?.({ stage: 'read weights', done: ++read, total: tensorCount, detail: label });
    return out;
  };
  const perLayer = async (label: string, n: number) => {
    const all = await take(label, L * n);
    return Array.from({ length: L }, (_, l) => all.slice(l * n, (l + 1) * n));
  };

  let embed: Float32Array;
  let attnNorm: Float32Array[];
  let mlpNorm: Float32Array[];
  let finalNorm: Float32Array;
  if (h.version === 1) {
    attnNorm = await perLayer('attention norms', D);
    mlpNorm = await perLayer('ffn norms', D);
    finalNorm = await take('final norm', D);
    embed = await take('token embedding', h.vocab * D);
  } else {
    embed = await take('token embedding', h.vocab * D);
    attnNorm = await perLayer('attention norms', D);
  }
  const wq = await perLayer('wq', D * D);
  const wk = await perLayer('wk', kvDim * D);
  const wv = await perLayer('wv', kvDim * D);
  const wo = await perLayer('wo', D * D);
  if (h.version === 0) mlpNorm = await perLayer('ffn norms', D);
  const w1 = await perLayer('w1 (gate)', F * D);
  const w2 = await perLayer('w2 (down)', D * F);
  const w3 = await perLayer('w3 (up)', F * D);
  if (h.version === 0) {
    finalNorm = await take('final norm', D);
    offset += 2 * h.seqLen * (headDim / 2) * 4; // stored RoPE tables (freq_cis_real, freq_cis_imag): recomputed, skipped
  }
  const lmHead = h.sharedClassifier ? embed : await take('classifier', h.vocab * D);
  if (offset > blob.size) throw new ModelFormatError(name, `the file ends at byte ${blob.size}, inside the RoPE tables`, 'The file is truncated');

  const config: ModelConfig = {
    family: 'llama2c',
    architecture: h.version === 1 ? 'llama2.c v1' : 'llama2.c legacy',
    layers: L,
    dim: D,
    heads: h.heads,
    headDim,
    ffnDim: F,
    vocab: h.vocab,
    contextLength: h.seqLen,
    norm: 'rmsnorm',
    normEps: 1e-5,
    positional: { kind: 'rotary', style: 'interleaved', fraction: 1, theta: 10000 },
    mlp: 'swiglu',
    attentionBias: { q: false, k: false, v: false, o: false },
    mlpBias: false,
    tiedEmbeddings: h.sharedClassifier,
    parallelResidual: false,
    attentionScale: 1 / Math.sqrt(headDim),
    attentionWindow: Array(L).fill(null),
    bosId: 1,
    eosId: 2,
  };
  const layers: LayerWeights[] = Array.from({ length: L }, (_, l) => ({
    attnNorm: { weight: attnNorm[l] },
    mlpNorm: { weight: mlpNorm![l] },
    attn: { wq: wq[l], wk: wk[l], wv: wv[l], wo: wo[l] },
    mlp: { gate: w1[l], up: w3[l], down: w2[l] },
    kv: gqaLayout(h.heads, h.kvHeads),
  }));
  return { config, embed, layers, finalNorm: { weight: finalNorm! }, lmHead, source: { format: 'llama2c', files: [name] } };
}

/** Writes a model in llama2.c's legacy format (for tests and export of MHA/GQA llama-shaped models). */
export function writeLlama2cLegacy(model: Model): Uint8Array {
  const c = model.config;
  if (c.norm !== 'rmsnorm' || c.mlp !== 'swiglu' || c.positional.kind !== 'rotary' || c.positional.style !== 'interleaved') {
    throw new Error('writeLlama2cLegacy: only Llama-shaped models with interleaved RoPE can be written as llama2.c');
  }
  const kv = model.layers[0].kv;
  if (
    !model.layers.every(
      (l) =>
        l.kv.kHeads === kv.kHeads &&
        l.kv.vHeads === kv.kHeads &&
        l.kv.kHeadOf.every((k, h) => k === l.kv.vHeadOf[h] && k === Math.floor((h * kv.kHeads) / c.heads)),
    )
  ) {
    throw new Error('writeLlama2cLegacy: llama2.c holds only uniform GQA layouts with contiguous groups');
  }
  const parts: Float32Array[] = [];
  const header = new Int32Array([c.dim, c.ffnDim, c.layers, c.heads, kv.kHeads, c.tiedEmbeddings ? c.vocab : -c.vocab, c.contextLength]);
  parts.push(model.embed);
  const each = (f: (l: LayerWeights) => Float32Array) => model.layers.forEach((l) => parts.push(f(l)));
  each((l) => l.attnNorm.weight);
  each((l) => l.attn.wq);
  each((l) => l.attn.wk);
  each((l) => l.attn.wv);
  each((l) => l.attn.wo);
  each((l) => l.mlpNorm.weight);
  each((l) => l.mlp.gate!);
  each((l) => l.mlp.down);
  each((l) => l.mlp.up);
  parts.push(model.finalNorm.weight);
  const half = c.headDim / 2;
  const re = new Float32Array(c.contextLength * half);
  const im = new Float32Array(c.contextLength * half);
  for (let t = 0; t < c.contextLength; t++) {
    for (let i = 0; i < half; i++) {
      const f = t / Math.pow(c.positional.theta, (2 * i) / c.headDim);
      re[t * half + i] = Math.cos(f);
      im[t * half + i] = Math.sin(f);
    }
  }
  parts.push(re, im);
  if (!c.tiedEmbeddings) parts.push(model.lmHead);
  const total = header.byteLength + parts.reduce((s, p) => s + p.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(new Uint8Array(header.buffer), 0);
  let at = header.byteLength;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
    at += p.byteLength;
  }
  return out;
}
