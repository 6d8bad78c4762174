// headlab's own checkpoints: a folder with config.json and model.safetensors holding the tensors under the names of
// `tensorsOf`. model_type "headlab-dha": the family-free ModelConfig and every layer's K/V head maps, which Hugging Face
// configs cannot hold when counts differ per layer or K and V groups differ; "headlab-mla": the same plus each layer's
// latent (its rank and the rotary pairs each K head keeps). Written by src/fusion/export.ts; read here.
import type { KvLayout, LatentKv, Model, ModelConfig } from './types';
import { tensorsOf, validateModel } from './heads';
import { readFloatTensor, readSafetensorsHeader, writeSafetensors } from './safetensors';
import { ModelFormatError } from './errors';
import type { FileMap } from './hfFiles';
import type { LongWorkOptions } from '../progress';
import { throwIfAborted } from '../progress';

export const DHA_MODEL_TYPE = 'headlab-dha';
export const MLA_MODEL_TYPE = 'headlab-mla';
export const DHA_FORMAT_VERSION = 1;

export interface DhaConfig {
  model_type: typeof DHA_MODEL_TYPE | typeof MLA_MODEL_TYPE;
  architectures: ['HeadlabDhaForCausalLM'] | ['HeadlabMlaForCausalLM'];
  format_version: number;
  config: ModelConfig;
  kv_layouts: KvLayout[];
  /** headlab-mla: per layer its latent's rank and kept rotary pairs per K head (null: the layer caches K and V heads). */
  latents?: ({ rank: number; rope_pairs: number[][] } | null)[];
  /** Tensor names present (the optional biases and untied heads say which of the Model's fields exist). */
  tensors: string[];
}

/** Whether a layout's recorded origin (which original heads each head came from) has the layout's shape; else it is dropped. */
function originFits(kv: KvLayout, heads: number): boolean {
  const o = kv.origin;
  const lists = (x: unknown, n: number) => Array.isArray(x) && x.length === n && x.every((g) => Array.isArray(g) && g.every(Number.isInteger));
  return Boolean(o && Array.isArray(o.q) && o.q.length === heads && lists(o.k, kv.kHeads) && lists(o.v, kv.vHeads));
}

export function dhaConfigOf(model: Model): DhaConfig {
  const mla = model.layers.some((l) => l.latent);
  return {
    model_type: mla ? MLA_MODEL_TYPE : DHA_MODEL_TYPE,
    architectures: mla ? ['HeadlabMlaForCausalLM'] : ['HeadlabDhaForCausalLM'],
    format_version: DHA_FORMAT_VERSION,
    config: model.config,
    kv_layouts: model.layers.map((l) => l.kv),
    ...(mla ? { latents: model.layers.map((l) => (l.latent ? { rank: l.latent.rank, rope_pairs: l.latent.ropePairs } : null)) } : {}),
    tensors: tensorsOf(model).map(([n]) => n),
  };
}

export function writeDhaSafetensors(model: Model, metadata: Record<string, string> = {}): Uint8Array {
  return writeSafetensors(
    tensorsOf(model).map(([name, data]) => ({ name, dtype: 'F32' as const, shape: [data.length], data })),
    { format: dhaConfigOf(model).model_type, ...metadata },
  );
}

export function isDhaConfig(c: unknown): c is DhaConfig {
  const type = !!c && typeof c === 'object' ? (c as { model_type?: unknown }).model_type : undefined;
  return type === DHA_MODEL_TYPE || type === MLA_MODEL_TYPE;
}

export async function loadDhaModel(files: FileMap, cfg: DhaConfig, opts: LongWorkOptions = {}): Promise<Model> {
  if (cfg.format_version !== DHA_FORMAT_VERSION) {
    throw new ModelFormatError(
      'config.json',
      `${cfg.model_type} format version ${String(cfg.format_version)} is not ${DHA_FORMAT_VERSION}`,
      'Export it again with this version of headlab',
    );
  }
  const c = cfg.config;
  if (!c || !Array.isArray(cfg.kv_layouts) || cfg.kv_layouts.length !== c.layers || !Array.isArray(cfg.tensors)) {
    throw new ModelFormatError('config.json', `the ${cfg.model_type} config lacks config, kv_layouts (one per layer) or tensors`);
  }
  const latents = cfg.model_type === MLA_MODEL_TYPE ? cfg.latents : undefined;
  if (cfg.model_type === MLA_MODEL_TYPE && (!Array.isArray(latents) || latents.length !== c.layers)) {
    throw new ModelFormatError('config.json', 'the headlab-mla config lacks latents (one entry per layer, null for a layer without one)');
  }
  const st = [...files.keys()].filter((n) => n.endsWith('.safetensors'));
  if (st.length !== 1) throw new ModelFormatError('config.json', `a ${cfg.model_type} folder holds one .safetensors file; found ${st.length}`);
  const file = await readSafetensorsHeader(files.get(st[0])!, st[0]);
  const tensors = new Map<string, Float32Array>();
  let done = 0;
  for (const name of cfg.tensors) {
    throwIfAborted(opts.signal);
    const info = file.tensors.get(name);
    if (!info) throw new ModelFormatError(st[0], `tensor "${name}" named by config.json is missing`);
    tensors.set(name, await readFloatTensor(file, info));
    opts.onProgress?.({ stage: 'read weights', done: ++done, total: cfg.tensors.length, detail: name });
  }
  const t = (name: string) => tensors.get(name);
  const must = (name: string) => {
    const v = t(name);
    if (!v) throw new ModelFormatError(st[0], `tensor "${name}" is missing`);
    return v;
  };
  const embed = must('embed');
  const model: Model = {
    config: c,
    embed,
    positionEmbed: t('positionEmbed'),
    layers: cfg.kv_layouts.map((kv, i) => {
      const p = `layers.${i}`;
      const bias = (n: string) => t(`${p}.${n}`);
      const L = latents?.[i];
      const latent: LatentKv | undefined = L
        ? {
            rank: L.rank,
            ropePairs: L.rope_pairs,
            wdkv: must(`${p}.latent.wdkv`),
            wuk: t(`${p}.latent.wuk`) ?? new Float32Array(0),
            wkr: t(`${p}.latent.wkr`) ?? new Float32Array(0),
            wuv: must(`${p}.latent.wuv`),
          }
        : undefined;
      return {
        ...(latent ? { latent } : {}),
        attnNorm: { weight: must(`${p}.attnNorm.weight`), bias: bias('attnNorm.bias') },
        mlpNorm: { weight: must(`${p}.mlpNorm.weight`), bias: bias('mlpNorm.bias') },
        attn: {
          wq: must(`${p}.attn.wq`),
          wk: latent ? new Float32Array(0) : must(`${p}.attn.wk`),
          wv: latent ? new Float32Array(0) : must(`${p}.attn.wv`),
          wo: must(`${p}.attn.wo`),
          bq: bias('attn.bq'),
          bk: bias('attn.bk'),
          bv: bias('attn.bv'),
          bo: bias('attn.bo'),
        },
        mlp: {
          up: must(`${p}.mlp.up`),
          gate: bias('mlp.gate'),
          down: must(`${p}.mlp.down`),
          gateBias: bias('mlp.gateBias'),
          upBias: bias('mlp.upBias'),
          downBias: bias('mlp.downBias'),
        },
        kv: { kHeads: kv.kHeads, vHeads: kv.vHeads, kHeadOf: kv.kHeadOf, vHeadOf: kv.vHeadOf, ...(originFits(kv, c.heads) ? { origin: kv.origin } : {}) },
      };
    }),
    finalNorm: { weight: must('finalNorm.weight'), bias: t('finalNorm.bias') },
    lmHead: c.tiedEmbeddings ? embed : must('lmHead'),
    lmHeadBias: t('lmHeadBias'),
    source: { format: latents ? 'mla' : 'dha', files: ['config.json', st[0]] },
  };
  try {
    validateModel(model);
  } catch (e) {
    throw new ModelFormatError(st[0], e instanceof Error ? e.message : String(e));
  }
  return model;
}
