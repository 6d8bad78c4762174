// headlab's DHA checkpoint: a folder with config.json (model_type "headlab-dha": the family-free ModelConfig and every
// layer's K/V head maps, which Hugging Face configs cannot hold when counts differ per layer or K and V groups differ) and
// model.safetensors with the tensors under the names of `tensorsOf`. Written by src/fusion/export.ts; read here.
import type { KvLayout, Model, ModelConfig } from './types';
import { tensorsOf, validateModel } from './heads';
import { readFloatTensor, readSafetensorsHeader, writeSafetensors } from './safetensors';
import { ModelFormatError } from './errors';
import type { FileMap } from './hf';
import type { LongWorkOptions } from '../progress';
import { throwIfAborted } from '../progress';

export const DHA_MODEL_TYPE = 'headlab-dha';
export const DHA_FORMAT_VERSION = 1;

export interface DhaConfig {
  model_type: typeof DHA_MODEL_TYPE;
  architectures: ['HeadlabDhaForCausalLM'];
  format_version: number;
  config: ModelConfig;
  kv_layouts: KvLayout[];
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
  return {
    model_type: DHA_MODEL_TYPE,
    architectures: ['HeadlabDhaForCausalLM'],
    format_version: DHA_FORMAT_VERSION,
    config: model.config,
    kv_layouts: model.layers.map((l) => l.kv),
    tensors: tensorsOf(model).map(([n]) => n),
  };
}

export function writeDhaSafetensors(model: Model, metadata: Record<string, string> = {}): Uint8Array {
  return writeSafetensors(
    tensorsOf(model).map(([name, data]) => ({ name, dtype: 'F32' as const, shape: [data.length], data })),
    { format: 'headlab-dha', ...metadata },
  );
}

export function isDhaConfig(c: unknown): c is DhaConfig {
  return !!c && typeof c === 'object' && (c as { model_type?: unknown }).model_type === DHA_MODEL_TYPE;
}

export async function loadDhaModel(files: FileMap, cfg: DhaConfig, opts: LongWorkOptions = {}): Promise<Model> {
  if (cfg.format_version !== DHA_FORMAT_VERSION) {
    throw new ModelFormatError(
      'config.json',
      `headlab-dha format version ${String(cfg.format_version)} is not ${DHA_FORMAT_VERSION}`,
      'Export it again with this version of headlab',
    );
  }
  const c = cfg.config;
  if (!c || !Array.isArray(cfg.kv_layouts) || cfg.kv_layouts.length !== c.layers || !Array.isArray(cfg.tensors)) {
    throw new ModelFormatError('config.json', 'the headlab-dha config lacks config, kv_layouts (one per layer) or tensors');
  }
  const st = [...files.keys()].filter((n) => n.endsWith('.safetensors'));
  if (st.length !== 1) throw new ModelFormatError('config.json', `a headlab-dha folder holds one .safetensors file; found ${st.length}`);
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
      return {
        attnNorm: { weight: must(`${p}.attnNorm.weight`), bias: bias('attnNorm.bias') },
        mlpNorm: { weight: must(`${p}.mlpNorm.weight`), bias: bias('mlpNorm.bias') },
        attn: {
          wq: must(`${p}.attn.wq`),
          wk: must(`${p}.attn.wk`),
          wv: must(`${p}.attn.wv`),
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
    source: { format: 'dha', files: ['config.json', st[0]] },
  };
  try {
    validateModel(model);
  } catch (e) {
    throw new ModelFormatError(st[0], e instanceof Error ? e.message : String(e));
  }
  return model;
}
