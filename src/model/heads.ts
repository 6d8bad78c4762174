// Head layouts and per-head views of a Model, and what a model costs: parameters, KV-cache bytes, GPU memory.
import type { HeadOrigin, KvLayout, LatentKv, LayerWeights, Model } from './types';
import { ModelTooLargeError } from './errors';
import { formatBytes } from '../format';
import { cachedValues, validateLatent } from './latent';

export function mhaLayout(heads: number): KvLayout {
  const id = Array.from({ length: heads }, (_, h) => h);
  return { kHeads: heads, vHeads: heads, kHeadOf: id, vHeadOf: [...id] };
}

/** GQA with G KV heads: query head h reads KV head ⌊h·G/H⌋ (contiguous groups, `repeat_interleave` order). */
export function gqaLayout(heads: number, kvHeads: number): KvLayout {
  if (heads % kvHeads !== 0) throw new Error(`${heads} query heads cannot share ${kvHeads} KV heads evenly`);
  const map = Array.from({ length: heads }, (_, h) => Math.floor((h * kvHeads) / heads));
  return { kHeads: kvHeads, vHeads: kvHeads, kHeadOf: map, vHeadOf: [...map] };
}

/** A layout's origin, the identity when it has none. */
export function originOf(kv: KvLayout): HeadOrigin {
  return (
    kv.origin ?? { q: kv.kHeadOf.map((_, h) => h), k: Array.from({ length: kv.kHeads }, (_, i) => [i]), v: Array.from({ length: kv.vHeads }, (_, i) => [i]) }
  );
}

/**
 * A layer as the head-layout diagram draws it: its K/V maps with their origin and, for a layer that caches a latent (MLA),
 * the latent's width and each K head's kept rotary pairs (the weights stay in the model).
 */
export type HeadLayout = Required<KvLayout> & { latent?: Pick<LatentKv, 'rank' | 'ropePairs'> };

/** Every layer's layout with its origin filled in (and its latent's shape, if any): what the head-layout diagram draws. */
export function layoutsOf(model: Model): HeadLayout[] {
  return model.layers.map((l) => ({
    ...l.kv,
    origin: originOf(l.kv),
    ...(l.latent ? { latent: { rank: l.latent.rank, ropePairs: l.latent.ropePairs } } : {}),
  }));
}

export function isMha(kv: KvLayout): boolean {
  return kv.kHeadOf.every((k, h) => k === h) && kv.vHeadOf.every((v, h) => v === h) && kv.kHeads === kv.kHeadOf.length;
}

export type Projection = 'q' | 'k' | 'v' | 'o';

/**
 * The weights of one head as a [headDim, dim] matrix (row-vector convention W_h ∈ R^{dim×headDim}, transposed).
 * q/k/v: a view into the stored rows (no copy); o: a copy of the columns h·headDim … (h+1)·headDim of W_O.
 * For k and v, `h` indexes K heads and V heads, not query heads.
 */
export function headWeights(model: Model, layer: number, proj: Projection, h: number): Float32Array {
  const { dim, headDim, heads } = model.config;
  const a = model.layers[layer].attn;
  const n = proj === 'k' ? model.layers[layer].kv.kHeads : proj === 'v' ? model.layers[layer].kv.vHeads : heads;
  if (h < 0 || h >= n) throw new RangeError(`layer ${layer} has ${n} ${proj.toUpperCase()} heads; there is no head ${h}`);
  if (proj !== 'o') {
    const w = proj === 'q' ? a.wq : proj === 'k' ? a.wk : a.wv;
    return w.subarray(h * headDim * dim, (h + 1) * headDim * dim);
  }
  const out = new Float32Array(headDim * dim);
  const cols = heads * headDim;
  for (let r = 0; r < dim; r++) for (let c = 0; c < headDim; c++) out[c * dim + r] = a.wo[r * cols + h * headDim + c];
  return out;
}

/** Bytes of K and V (or of the latent and its rotary keys) cached per token by layers of these shapes, in f32 as the lab stores them. */
export function layoutKvBytes(headDim: number, layers: { kHeads: number; vHeads: number; latent?: Pick<LatentKv, 'rank' | 'ropePairs'> | null }[]): number {
  return layers.reduce((s, l) => s + cachedValues(headDim, l, l.latent) * 4, 0);
}

/** Bytes of K and V (or of the latent and its rotary keys) cached per token over all layers, in f32 as the lab stores them. */
export function kvBytesPerToken(model: Model): number {
  return layoutKvBytes(
    model.config.headDim,
    model.layers.map((l) => ({ ...l.kv, latent: l.latent })),
  );
}

export function tensorsOf(model: Model): [string, Float32Array][] {
  const out: [string, Float32Array][] = [['embed', model.embed]];
  if (model.positionEmbed) out.push(['positionEmbed', model.positionEmbed]);
  model.layers.forEach((l, i) => {
    const add = (name: string, t: Float32Array | undefined) => t && out.push([`layers.${i}.${name}`, t]);
    add('attnNorm.weight', l.attnNorm.weight);
    add('attnNorm.bias', l.attnNorm.bias);
    add('mlpNorm.weight', l.mlpNorm.weight);
    add('mlpNorm.bias', l.mlpNorm.bias);
    for (const k of ['wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'bo'] as const) if (l.attn[k]?.length !== 0) add(`attn.${k}`, l.attn[k]);
    if (l.latent) for (const k of ['wdkv', 'wuk', 'wkr', 'wuv'] as const) if (l.latent[k].length) add(`latent.${k}`, l.latent[k]);
    for (const k of ['gate', 'up', 'down', 'gateBias', 'upBias', 'downBias'] as const) add(`mlp.${k}`, l.mlp[k]);
  });
  out.push(['finalNorm.weight', model.finalNorm.weight]);
  if (model.finalNorm.bias) out.push(['finalNorm.bias', model.finalNorm.bias]);
  if (model.lmHead !== model.embed) out.push(['lmHead', model.lmHead]);
  if (model.lmHeadBias) out.push(['lmHeadBias', model.lmHeadBias]);
  return out;
}

export function parameterCount(model: Model): number {
  return tensorsOf(model).reduce((s, [, t]) => s + t.length, 0);
}

/** Checks every tensor's length against the config and the head layouts, naming the first that does not fit. */
export function validateModel(model: Model): void {
  const c = model.config;
  const expect = (name: string, t: Float32Array | undefined, n: number) => {
    if (!t) throw new Error(`model: ${name} is missing`);
    if (t.length !== n) throw new Error(`model: ${name} holds ${t.length} values, expected ${n}`);
  };
  expect('embed', model.embed, c.vocab * c.dim);
  expect('lmHead', model.lmHead, c.vocab * c.dim);
  if (c.positional.kind === 'learned') expect('positionEmbed', model.positionEmbed, c.contextLength * c.dim);
  if (model.layers.length !== c.layers) throw new Error(`model: ${model.layers.length} layers, config says ${c.layers}`);
  model.layers.forEach((l: LayerWeights, i) => {
    const p = `layers.${i}`;
    const kv = l.kv;
    if (kv.kHeadOf.length !== c.heads || kv.vHeadOf.length !== c.heads) throw new Error(`model: ${p} head maps must have ${c.heads} entries`);
    if (kv.kHeadOf.some((k) => k < 0 || k >= kv.kHeads) || kv.vHeadOf.some((v) => v < 0 || v >= kv.vHeads)) {
      throw new Error(`model: ${p} head maps point past its ${kv.kHeads} K / ${kv.vHeads} V heads`);
    }
    expect(`${p}.attn.wq`, l.attn.wq, c.heads * c.headDim * c.dim);
    if (l.latent) {
      validateLatent(c, l, p);
    } else {
      expect(`${p}.attn.wk`, l.attn.wk, kv.kHeads * c.headDim * c.dim);
      expect(`${p}.attn.wv`, l.attn.wv, kv.vHeads * c.headDim * c.dim);
    }
    if (l.attn.bk && l.attn.bk.length !== kv.kHeads * c.headDim)
      throw new Error(`model: ${p}.attn.bk holds ${l.attn.bk.length} values, expected ${kv.kHeads * c.headDim}`);
    if (l.attn.bv && l.attn.bv.length !== kv.vHeads * c.headDim)
      throw new Error(`model: ${p}.attn.bv holds ${l.attn.bv.length} values, expected ${kv.vHeads * c.headDim}`);
    expect(`${p}.attn.wo`, l.attn.wo, c.dim * c.heads * c.headDim);
    expect(`${p}.mlp.up`, l.mlp.up, c.ffnDim * c.dim);
    expect(`${p}.mlp.down`, l.mlp.down, c.dim * c.ffnDim);
    if (c.mlp === 'swiglu') expect(`${p}.mlp.gate`, l.mlp.gate, c.ffnDim * c.dim);
    expect(`${p}.attnNorm.weight`, l.attnNorm.weight, c.dim);
    expect(`${p}.mlpNorm.weight`, l.mlpNorm.weight, c.dim);
  });
  expect('finalNorm.weight', model.finalNorm.weight, c.dim);
}

/** Throws a clear error where a model's KV cache must be heads (similarity, merging): a latent layer has no K/V heads to compare. */
export function assertHeadKv(model: Model, what: string): void {
  const i = model.layers.findIndex((l) => l.latent);
  if (i >= 0) {
    throw new Error(`${what} needs K and V heads, and layer ${i} of this model caches a latent (MLA) instead: load the original checkpoint for this`);
  }
}

/** Repeats K/V rows so that every query head has its own copy. */
function expandRows(w: Float32Array, map: number[], rowLen: number): Float32Array {
  const out = new Float32Array(map.length * rowLen);
  map.forEach((src, h) => out.set(w.subarray(src * rowLen, (src + 1) * rowLen), h * rowLen));
  return out;
}

/** The exact MHA equivalent of a GQA (or DHA) model: each KV head repeated for the query heads that read it. */
export function expandToMha(model: Model): Model {
  const { headDim, dim, heads } = model.config;
  assertHeadKv(model, 'expanding to MHA');
  return {
    ...model,
    layers: model.layers.map((l) => ({
      ...l,
      attn: {
        ...l.attn,
        wk: expandRows(l.attn.wk, l.kv.kHeadOf, headDim * dim),
        wv: expandRows(l.attn.wv, l.kv.vHeadOf, headDim * dim),
        bk: l.attn.bk && expandRows(l.attn.bk, l.kv.kHeadOf, headDim),
        bv: l.attn.bv && expandRows(l.attn.bv, l.kv.vHeadOf, headDim),
      },
      kv: mhaLayout(heads),
    })),
  };
}

export interface GpuMemoryPlan {
  weightBytes: number;
  /** Activations and KV cache for one sequence of the full context (batch 1), f32. */
  activationBytes: number;
  totalBytes: number;
  /** Tensors larger than one storage binding, and how many bindings each is split across (by whole rows). */
  split: { name: string; bytes: number; bindings: number }[];
}

/**
 * What the model needs on this GPU, checked against the adapter's limits. The token embedding and the LM head (vocab × dim,
 * the tensors that outgrow a binding first) are split by rows across bindings; any other tensor above one binding, or a row
 * larger than a binding, is refused here — early, with the numbers — since the forward pass would refuse it too.
 */
export function planGpuMemory(model: Model, limits: { maxStorageBufferBindingSize: number; maxBufferSize: number }): GpuMemoryPlan {
  const c = model.config;
  const split: GpuMemoryPlan['split'] = [];
  let weightBytes = 0;
  for (const [name, t] of tensorsOf(model)) {
    const bytes = t.length * 4;
    weightBytes += bytes;
    if (bytes <= limits.maxStorageBufferBindingSize) continue;
    if (name !== 'embed' && name !== 'lmHead') {
      throw new ModelTooLargeError(
        `Tensor ${name} needs ${formatBytes(bytes)}, more than this GPU's storage binding limit of ` +
          `${formatBytes(limits.maxStorageBufferBindingSize)} (only the embedding and the LM head are split across bindings). ` +
          'Use a smaller model or a GPU with a larger limit.',
      );
    }
    const rowBytes = c.dim * 4;
    if (rowBytes > limits.maxStorageBufferBindingSize) {
      throw new ModelTooLargeError(
        `Tensor ${name}: one row is ${formatBytes(rowBytes)}, more than this GPU's storage binding limit of ` +
          `${formatBytes(limits.maxStorageBufferBindingSize)}; it cannot be split further. Use a smaller model or another GPU.`,
      );
    }
    const rowsPerBinding = Math.floor(limits.maxStorageBufferBindingSize / rowBytes);
    split.push({ name, bytes, bindings: Math.ceil(c.vocab / rowsPerBinding) });
  }
  const T = c.contextLength;
  const perToken = c.dim * 6 + c.ffnDim * 3 + c.heads * c.headDim * 3 + c.vocab;
  const scores = c.heads * T * T;
  const activationBytes = (T * perToken + scores) * 4 + kvBytesPerToken(model) * T;
  const largestActivation = Math.max(scores, T * c.vocab) * 4;
  if (largestActivation > limits.maxBufferSize) {
    throw new ModelTooLargeError(
      `The attention scores or logits of one ${T}-token sequence need ${formatBytes(largestActivation)}, more than this GPU's ` +
        `maxBufferSize of ${formatBytes(limits.maxBufferSize)}.`,
    );
  }
  return { weightBytes, activationBytes, totalBytes: weightBytes + activationBytes, split };
}
