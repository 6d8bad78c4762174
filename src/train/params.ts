// What trains: gradient tensors shaped like GpuModel's weights (null where a weight stays frozen), and the list of
// trainable weights with their AdamW state. One set of choices: every weight, the attention projections, or K/V only.
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import type { GpuModel } from '../eval/gpuModel';
import type { LayerWeights, Model } from '../model/types';

export type TrainableSet = 'all' | 'attention' | 'kv';
export const TRAINABLE_SETS: TrainableSet[] = ['all', 'attention', 'kv'];

const LAYER_WEIGHTS = [
  'attnNormW',
  'attnNormB',
  'mlpNormW',
  'mlpNormB',
  'wq',
  'wk',
  'wv',
  'wo',
  'bq',
  'bk',
  'bv',
  'bo',
  'wdkv',
  'wuk',
  'wkr',
  'wuv',
  'gate',
  'gateBias',
  'up',
  'upBias',
  'down',
  'downBias',
] as const;
export type LayerWeightName = (typeof LAYER_WEIGHTS)[number];
export type LayerGrads = Record<LayerWeightName, GpuTensor | null>;

export interface ModelGrads {
  embed: GpuTensor | null;
  positionEmbed: GpuTensor | null;
  /** The same tensor as embed when the embeddings are tied. */
  lmHead: GpuTensor | null;
  lmHeadBias: GpuTensor | null;
  finalNormW: GpuTensor | null;
  finalNormB: GpuTensor | null;
  layers: LayerGrads[];
}

/** One trainable weight with its gradient and AdamW moments; `decay`: weight decay applies (matrices, not gains or biases). */
export interface Trainable {
  name: string;
  param: GpuTensor;
  grad: GpuTensor;
  m: GpuTensor;
  v: GpuTensor;
  decay: boolean;
}

const LATENT = ['wdkv', 'wuk', 'wkr', 'wuv'] as const;
const ATTENTION = new Set<LayerWeightName>(['wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'bo', ...LATENT]);
const KV = new Set<LayerWeightName>(['wk', 'wv', 'bk', 'bv', ...LATENT]);
const MATRICES = new Set<LayerWeightName>(['wq', 'wk', 'wv', 'wo', 'gate', 'up', 'down', ...LATENT]);

function layerTrains(set: TrainableSet, name: LayerWeightName): boolean {
  return set === 'all' || (set === 'attention' ? ATTENTION : KV).has(name);
}

/** The names of a set's weights in a model, in the optimizer's order, with whether weight decay applies (matrices). */
export function trainableNames(model: Model, set: TrainableSet): { name: string; decay: boolean }[] {
  const all = set === 'all';
  const out: { name: string; decay: boolean }[] = [];
  if (all) out.push({ name: 'embed', decay: true });
  if (all && model.positionEmbed) out.push({ name: 'positionEmbed', decay: true });
  model.layers.forEach((l, i) => {
    for (const name of LAYER_WEIGHTS) if (layerArray(l, name) && layerTrains(set, name)) out.push({ name: `layers.${i}.${name}`, decay: MATRICES.has(name) });
  });
  if (all) {
    out.push({ name: 'finalNormW', decay: false });
    if (model.finalNorm.bias) out.push({ name: 'finalNormB', decay: false });
    if (model.lmHead !== model.embed) out.push({ name: 'lmHead', decay: true });
    if (model.lmHeadBias) out.push({ name: 'lmHeadBias', decay: false });
  }
  return out;
}

/** Values a set trains (each costs three more on the GPU: its gradient and two moments). */
export function trainableCount(model: Model, set: TrainableSet): number {
  return trainableNames(model, set).reduce((s, w) => s + weightArray(model, w.name).length, 0);
}

/** The GPU tensor of a weight by name. The embedding and LM head must be one binding to train. */
function gpuWeight(gm: GpuModel, name: string): GpuTensor {
  const single = (what: string, blocks: GpuModel['embed']) => {
    if (blocks.parts.length > 1) {
      throw new Error(
        `training the ${what} needs it in one storage binding; it is split into ${blocks.parts.length} (vocabulary too large for this adapter): train attention or kv only`,
      );
    }
    return blocks.parts[0].tensor;
  };
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  if (m) return gm.layers[Number(m[1])][m[2] as LayerWeightName]!;
  if (name === 'embed') return single('token embedding', gm.embed);
  if (name === 'lmHead') return single('LM head', gm.lmHead);
  const top: Record<string, GpuTensor | null> = {
    positionEmbed: gm.positionEmbed,
    finalNormW: gm.finalNormW,
    finalNormB: gm.finalNormB,
    lmHeadBias: gm.lmHeadBias,
  };
  return top[name]!;
}

export function trainableWeights(gm: GpuModel, set: TrainableSet): { name: string; param: GpuTensor; decay: boolean }[] {
  return trainableNames(gm.model, set).map((w) => ({ ...w, param: gpuWeight(gm, w.name) }));
}

/** Gradient and moment tensors for the set (all zero), and the gradients arranged like the model for the backward pass. */
export async function allocateTrainables(
  rt: GpuRuntime,
  gm: GpuModel,
  set: TrainableSet,
): Promise<{ trainables: Trainable[]; grads: ModelGrads; release: () => void }> {
  const owned: GpuTensor[] = [];
  const zeros = async (label: string, n: number) => {
    const t = await rt.tensor(label, new Float32Array(n));
    owned.push(t);
    return t;
  };
  const release = () => owned.forEach((t) => rt.release(t));
  const trainables: Trainable[] = [];
  const byParam = new Map<GpuTensor, GpuTensor>();
  try {
    for (const w of trainableWeights(gm, set)) {
      const n = w.param.length;
      const t = { ...w, grad: await zeros(`∇${w.name}`, n), m: await zeros(`adam m ${w.name}`, n), v: await zeros(`adam v ${w.name}`, n) };
      trainables.push(t);
      byParam.set(w.param, t.grad);
    }
  } catch (e) {
    release();
    throw e;
  }
  const grad = (t: GpuTensor | null | undefined) => (t ? (byParam.get(t) ?? null) : null);
  const grads: ModelGrads = {
    embed: grad(gm.embed.parts[0].tensor),
    positionEmbed: grad(gm.positionEmbed),
    lmHead: grad(gm.lmHead.parts[0].tensor),
    lmHeadBias: grad(gm.lmHeadBias),
    finalNormW: grad(gm.finalNormW),
    finalNormB: grad(gm.finalNormB),
    layers: gm.layers.map((l) => Object.fromEntries(LAYER_WEIGHTS.map((n) => [n, grad(l[n])])) as LayerGrads),
  };
  return { trainables, grads, release };
}

/** The host array of a Model that a trainable weight's name refers to (names as trainableWeights gives them). */
export function weightArray(model: Model, name: string): Float32Array {
  const top: Record<string, Float32Array | undefined> = {
    embed: model.embed,
    positionEmbed: model.positionEmbed,
    finalNormW: model.finalNorm.weight,
    finalNormB: model.finalNorm.bias,
    lmHead: model.lmHead,
    lmHeadBias: model.lmHeadBias,
  };
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  const found = m ? layerArray(model.layers[Number(m[1])], m[2] as LayerWeightName) : top[name];
  if (!found) throw new Error(`model has no weight "${name}"`);
  return found;
}

/** A layer's weight by name; undefined where the layer has none (biases, a latent layer's empty wk/wv, empty latent parts). */
function layerArray(l: LayerWeights | undefined, name: LayerWeightName): Float32Array | undefined {
  if (!l) return undefined;
  const { attn, mlp, latent } = l;
  const map: Record<LayerWeightName, Float32Array | undefined> = {
    attnNormW: l.attnNorm.weight,
    attnNormB: l.attnNorm.bias,
    mlpNormW: l.mlpNorm.weight,
    mlpNormB: l.mlpNorm.bias,
    wq: attn.wq,
    wk: attn.wk,
    wv: attn.wv,
    wo: attn.wo,
    bq: attn.bq,
    bk: attn.bk,
    bv: attn.bv,
    bo: attn.bo,
    wdkv: latent?.wdkv,
    wuk: latent?.wuk,
    wkr: latent?.wkr,
    wuv: latent?.wuv,
    gate: mlp.gate,
    gateBias: mlp.gateBias,
    up: mlp.up,
    upBias: mlp.upBias,
    down: mlp.down,
    downBias: mlp.downBias,
  };
  const w = map[name];
  return w?.length ? w : undefined;
}

/**
 * A copy of `model` whose weights named in `values` are replaced (the rest shared). Tied embeddings stay tied. The copy
 * never aliases the replaced arrays of the original.
 */
export function withWeights(model: Model, values: Map<string, Float32Array>): Model {
  const copy: Model = structuredClone({ ...model, source: model.source });
  // structuredClone keeps a tied pair tied (one array referenced twice).
  for (const [name, v] of values) weightArray(copy, name).set(v);
  return copy;
}

/** Reads the trained weights back from the GPU into a new Model (the others copied from `model`). */
export async function readTrainedModel(rt: GpuRuntime, model: Model, trainables: Trainable[]): Promise<Model> {
  const values = new Map<string, Float32Array>();
  for (const t of trainables) values.set(t.name, await rt.read(t.param));
  return withWeights(model, values);
}
