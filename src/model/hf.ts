// Hugging Face checkpoints: config.json + safetensors (one file, or shards named by model.safetensors.index.json), read
// into the family-free Model. Every family quirk is resolved here, once: GPT-2's Conv1D (in × out) weights and fused
// c_attn, GPT-NeoX's per-head fused query_key_value and partial rotary, Qwen2's q/k/v biases, GPT-Neo's local layers and
// unscaled scores. Reading the folder's files: hfFiles.ts; reading config.json: hfConfig.ts.
import type { LayerWeights, Model, ModelConfig, Norm } from './types';
import { gqaLayout } from './heads';
import { ModelFormatError } from './errors';
import { throwIfAborted, type LongWorkOptions } from '../progress';
import { openSafetensors, readJsonFile, type FileMap, type TensorIndex } from './hfFiles';
import { activation, baseConfig, familyOf, invFreqPrecision, learnedPositionsConfig, num, ropeParameters, type HfConfig } from './hfConfig';

/** A LayerNorm's weight and bias, "<name>.weight" and "<name>.bias". */
const layerNorm = async (get: Get, name: string, D: number): Promise<Norm> => ({
  weight: await get(`${name}.weight`, [D]),
  bias: await get(`${name}.bias`, [D]),
});

/** Transposes a row-major [rows, cols] matrix (GPT-2's Conv1D stores in × out). */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

export async function loadHfModel(files: FileMap, opts: LongWorkOptions = {}): Promise<Model> {
  const config = (await readJsonFile(files, 'config.json')) as HfConfig;
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new ModelFormatError('config.json', 'it is not a JSON object');
  const { family, architecture } = familyOf(config);
  const index = await openSafetensors(files, architecture, opts);
  let done = 0;
  const total = index.count;
  const get = async (name: string, shape: number[]) => {
    throwIfAborted(opts.signal);
    const t = await index.get(name, shape);
    opts.onProgress?.({ stage: 'read weights', done: ++done, total, detail: name });
    return t;
  };
  let model: Model;
  switch (family) {
    case 'llama':
    case 'qwen2':
      model = await loadLlamaLike(config, family, architecture, index, get);
      break;
    case 'gpt2':
      model = await loadGpt2(config, architecture, index, get);
      break;
    case 'gpt-neox':
      model = await loadGptNeox(config, architecture, get);
      break;
    case 'gpt-neo':
      model = await loadGptNeo(config, architecture, index, get);
      break;
    default:
      throw new ModelFormatError('config.json', `family ${family} has no loader`);
  }
  model.source = { format: 'safetensors', files: ['config.json', ...index.files.map((f) => f.name)] };
  return model;
}

type Get = (name: string, shape: number[]) => Promise<Float32Array>;

async function loadLlamaLike(c: HfConfig, family: 'llama' | 'qwen2', architecture: string, index: TensorIndex, get: Get): Promise<Model> {
  const D = num(c, 'hidden_size');
  const H = num(c, 'num_attention_heads');
  const KV = num(c, 'num_key_value_heads', H);
  const dh = num(c, 'head_dim', D / H);
  const F = num(c, 'intermediate_size');
  const V = num(c, 'vocab_size');
  const L = num(c, 'num_hidden_layers');
  const rope = ropeParameters(c);
  if (rope.type !== 'default') {
    throw new ModelFormatError('config.json', `RoPE scaling "${rope.type}" is not supported`, 'headlab runs the default rotary embedding');
  }
  const qkvBias = family === 'qwen2' || c.attention_bias === true;
  const oBias = family === 'llama' && c.attention_bias === true;
  const mlpBias = c.mlp_bias === true;
  const tied = c.tie_word_embeddings === true || (c.tie_word_embeddings === undefined && !index.has('lm_head.weight'));
  const windows: (number | null)[] = Array.from({ length: L }, (_, l) => {
    const types = c.layer_types as string[] | undefined;
    const sliding = types ? types[l] === 'sliding_attention' : c.use_sliding_window === true && l >= num(c, 'max_window_layers', 0);
    return sliding && typeof c.sliding_window === 'number' ? (c.sliding_window as number) : null;
  });
  const cfg: ModelConfig = {
    ...baseConfig(c, family, architecture),
    layers: L,
    dim: D,
    heads: H,
    headDim: dh,
    ffnDim: F,
    vocab: V,
    contextLength: num(c, 'max_position_embeddings', 2048),
    norm: 'rmsnorm',
    normEps: num(c, 'rms_norm_eps', 1e-6),
    positional: { kind: 'rotary', style: 'half', fraction: rope.fraction ?? 1, theta: rope.theta, invFreqPrecision: invFreqPrecision(c) },
    mlp: activation(c.hidden_act ?? 'silu', architecture),
    attentionBias: { q: qkvBias, k: qkvBias, v: qkvBias, o: oBias },
    mlpBias,
    tiedEmbeddings: tied,
    parallelResidual: false,
    attentionScale: 1 / Math.sqrt(dh),
    attentionWindow: windows,
  };
  if (cfg.mlp !== 'swiglu') throw new ModelFormatError('config.json', `${architecture} with hidden_act ${String(c.hidden_act)} is not supported`);
  const embed = await get('model.embed_tokens.weight', [V, D]);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const opt = async (name: string, n: number, on: boolean) => (on ? get(name, [n]) : undefined);
    layers.push({
      attnNorm: { weight: await get(`${p}.input_layernorm.weight`, [D]) },
      mlpNorm: { weight: await get(`${p}.post_attention_layernorm.weight`, [D]) },
      attn: {
        wq: await get(`${p}.self_attn.q_proj.weight`, [H * dh, D]),
        wk: await get(`${p}.self_attn.k_proj.weight`, [KV * dh, D]),
        wv: await get(`${p}.self_attn.v_proj.weight`, [KV * dh, D]),
        wo: await get(`${p}.self_attn.o_proj.weight`, [D, H * dh]),
        bq: await opt(`${p}.self_attn.q_proj.bias`, H * dh, qkvBias),
        bk: await opt(`${p}.self_attn.k_proj.bias`, KV * dh, qkvBias),
        bv: await opt(`${p}.self_attn.v_proj.bias`, KV * dh, qkvBias),
        bo: await opt(`${p}.self_attn.o_proj.bias`, D, oBias),
      },
      mlp: {
        gate: await get(`${p}.mlp.gate_proj.weight`, [F, D]),
        up: await get(`${p}.mlp.up_proj.weight`, [F, D]),
        down: await get(`${p}.mlp.down_proj.weight`, [D, F]),
        gateBias: await opt(`${p}.mlp.gate_proj.bias`, F, mlpBias),
        upBias: await opt(`${p}.mlp.up_proj.bias`, F, mlpBias),
        downBias: await opt(`${p}.mlp.down_proj.bias`, D, mlpBias),
      },
      kv: gqaLayout(H, KV),
    });
  }
  const finalNorm = { weight: await get('model.norm.weight', [D]) };
  const lmHead = tied ? embed : await get('lm_head.weight', [V, D]);
  return { config: cfg, embed, layers, finalNorm, lmHead, source: { format: 'safetensors', files: [] } };
}

async function loadGpt2(c: HfConfig, architecture: string, index: TensorIndex, get: Get): Promise<Model> {
  const D = num(c, 'n_embd');
  const H = num(c, 'n_head');
  const L = num(c, 'n_layer');
  const V = num(c, 'vocab_size');
  const T = num(c, 'n_positions');
  const F = num(c, 'n_inner', 4 * D);
  const dh = D / H;
  if (c.scale_attn_by_inverse_layer_idx === true) {
    throw new ModelFormatError('config.json', 'scale_attn_by_inverse_layer_idx is not supported', 'headlab runs GPT-2 with the standard 1/√d scaling');
  }
  const prefix = index.resolve('transformer.wte.weight') ? 'transformer.' : '';
  const norm = (name: string) => layerNorm(get, name, D);
  const cfg: ModelConfig = {
    ...learnedPositionsConfig(c, 'gpt2', architecture, { L, D, H, F, V, T }),
    attentionBias: { q: true, k: true, v: true, o: true },
    attentionScale: c.scale_attn_weights === false ? 1 : 1 / Math.sqrt(dh),
    attentionWindow: Array(L).fill(null),
  };
  const embed = await get(`${prefix}wte.weight`, [V, D]);
  const positionEmbed = await get(`${prefix}wpe.weight`, [T, D]);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    const p = `${prefix}h.${l}`;
    // Conv1D: weight [in, out]. c_attn's out is [q | k | v], each D wide.
    const qkv = transpose(await get(`${p}.attn.c_attn.weight`, [D, 3 * D]), D, 3 * D);
    const qkvBias = await get(`${p}.attn.c_attn.bias`, [3 * D]);
    layers.push({
      attnNorm: await norm(`${p}.ln_1`),
      mlpNorm: await norm(`${p}.ln_2`),
      attn: {
        wq: qkv.slice(0, D * D),
        wk: qkv.slice(D * D, 2 * D * D),
        wv: qkv.slice(2 * D * D),
        wo: transpose(await get(`${p}.attn.c_proj.weight`, [D, D]), D, D),
        bq: qkvBias.slice(0, D),
        bk: qkvBias.slice(D, 2 * D),
        bv: qkvBias.slice(2 * D),
        bo: await get(`${p}.attn.c_proj.bias`, [D]),
      },
      mlp: {
        up: transpose(await get(`${p}.mlp.c_fc.weight`, [D, F]), D, F),
        upBias: await get(`${p}.mlp.c_fc.bias`, [F]),
        down: transpose(await get(`${p}.mlp.c_proj.weight`, [F, D]), F, D),
        downBias: await get(`${p}.mlp.c_proj.bias`, [D]),
      },
      kv: gqaLayout(H, H),
    });
  }
  const finalNorm = await norm(`${prefix}ln_f`);
  const lmHead = cfg.tiedEmbeddings || !index.has('lm_head.weight') ? embed : await get('lm_head.weight', [V, D]);
  cfg.tiedEmbeddings = lmHead === embed;
  return { config: cfg, embed, positionEmbed, layers, finalNorm, lmHead, source: { format: 'safetensors', files: [] } };
}

async function loadGptNeox(c: HfConfig, architecture: string, get: Get): Promise<Model> {
  const D = num(c, 'hidden_size');
  const H = num(c, 'num_attention_heads');
  const L = num(c, 'num_hidden_layers');
  const V = num(c, 'vocab_size');
  const F = num(c, 'intermediate_size');
  const dh = D / H;
  const rope = ropeParameters(c);
  const fraction = rope.fraction ?? 1;
  if (rope.type !== 'default') throw new ModelFormatError('config.json', `RoPE scaling "${rope.type}" is not supported`);
  const bias = c.attention_bias !== false;
  const tied = c.tie_word_embeddings === true;
  const cfg: ModelConfig = {
    ...baseConfig(c, 'gpt-neox', architecture),
    layers: L,
    dim: D,
    heads: H,
    headDim: dh,
    ffnDim: F,
    vocab: V,
    contextLength: num(c, 'max_position_embeddings', 2048),
    norm: 'layernorm',
    normEps: num(c, 'layer_norm_eps', 1e-5),
    // HF GPT-NeoX rotates the first ⌊headDim·rotary_pct⌋ dims of each head, rotate-half within them.
    positional: { kind: 'rotary', style: 'half', fraction: Math.floor(dh * fraction) / dh, theta: rope.theta, invFreqPrecision: invFreqPrecision(c) },
    mlp: activation(c.hidden_act ?? 'gelu', architecture),
    attentionBias: { q: bias, k: bias, v: bias, o: bias },
    mlpBias: true,
    tiedEmbeddings: tied,
    parallelResidual: c.use_parallel_residual !== false,
    attentionScale: 1 / Math.sqrt(dh),
    attentionWindow: Array(L).fill(null),
  };
  const embed = await get('gpt_neox.embed_in.weight', [V, D]);
  const norm = (name: string) => layerNorm(get, name, D);
  // query_key_value rows are per head: [q_h (dh) | k_h (dh) | v_h (dh)] for h = 0 … H−1.
  const split = (w: Float32Array, rowLen: number) => {
    const parts = [0, 1, 2].map(() => new Float32Array(H * dh * rowLen));
    for (let h = 0; h < H; h++) {
      for (let p = 0; p < 3; p++) {
        parts[p].set(w.subarray((h * 3 + p) * dh * rowLen, (h * 3 + p + 1) * dh * rowLen), h * dh * rowLen);
      }
    }
    return parts;
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    const p = `gpt_neox.layers.${l}`;
    const [wq, wk, wv] = split(await get(`${p}.attention.query_key_value.weight`, [3 * D, D]), D);
    const [bq, bk, bv] = bias ? split(await get(`${p}.attention.query_key_value.bias`, [3 * D]), 1) : [undefined, undefined, undefined];
    layers.push({
      attnNorm: await norm(`${p}.input_layernorm`),
      mlpNorm: await norm(`${p}.post_attention_layernorm`),
      attn: {
        wq,
        wk,
        wv,
        wo: await get(`${p}.attention.dense.weight`, [D, D]),
        bq,
        bk,
        bv,
        bo: bias ? await get(`${p}.attention.dense.bias`, [D]) : undefined,
      },
      mlp: {
        up: await get(`${p}.mlp.dense_h_to_4h.weight`, [F, D]),
        upBias: await get(`${p}.mlp.dense_h_to_4h.bias`, [F]),
        down: await get(`${p}.mlp.dense_4h_to_h.weight`, [D, F]),
        downBias: await get(`${p}.mlp.dense_4h_to_h.bias`, [D]),
      },
      kv: gqaLayout(H, H),
    });
  }
  const finalNorm = await norm('gpt_neox.final_layer_norm');
  const lmHead = tied ? embed : await get('embed_out.weight', [V, D]);
  return { config: cfg, embed, layers, finalNorm, lmHead, source: { format: 'safetensors', files: [] } };
}

async function loadGptNeo(c: HfConfig, architecture: string, index: TensorIndex, get: Get): Promise<Model> {
  const D = num(c, 'hidden_size');
  const H = num(c, 'num_heads');
  const L = num(c, 'num_layers');
  const V = num(c, 'vocab_size');
  const T = num(c, 'max_position_embeddings');
  const F = num(c, 'intermediate_size', 4 * D);
  // attention_types: [[["global", "local"], 4]] → global, local, global, local, …
  const types: string[] = [];
  for (const [pattern, repeat] of (c.attention_types as [string[], number][] | undefined) ?? [[['global'], L]]) {
    for (let r = 0; r < repeat; r++) types.push(...pattern);
  }
  if (types.length !== L) throw new ModelFormatError('config.json', `attention_types describes ${types.length} layers, num_layers is ${L}`);
  const window = num(c, 'window_size', 256);
  const prefix = index.resolve('transformer.wte.weight') ? 'transformer.' : '';
  const cfg: ModelConfig = {
    ...learnedPositionsConfig(c, 'gpt-neo', architecture, { L, D, H, F, V, T }),
    attentionBias: { q: false, k: false, v: false, o: true },
    attentionScale: 1, // GPT-Neo does not scale attention scores
    attentionWindow: types.map((t) => (t === 'local' ? window : null)),
  };
  const norm = (name: string) => layerNorm(get, name, D);
  const embed = await get(`${prefix}wte.weight`, [V, D]);
  const positionEmbed = await get(`${prefix}wpe.weight`, [T, D]);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    const p = `${prefix}h.${l}`;
    layers.push({
      attnNorm: await norm(`${p}.ln_1`),
      mlpNorm: await norm(`${p}.ln_2`),
      attn: {
        wq: await get(`${p}.attn.attention.q_proj.weight`, [D, D]),
        wk: await get(`${p}.attn.attention.k_proj.weight`, [D, D]),
        wv: await get(`${p}.attn.attention.v_proj.weight`, [D, D]),
        wo: await get(`${p}.attn.attention.out_proj.weight`, [D, D]),
        bo: await get(`${p}.attn.attention.out_proj.bias`, [D]),
      },
      mlp: {
        up: await get(`${p}.mlp.c_fc.weight`, [F, D]),
        upBias: await get(`${p}.mlp.c_fc.bias`, [F]),
        down: await get(`${p}.mlp.c_proj.weight`, [D, F]),
        downBias: await get(`${p}.mlp.c_proj.bias`, [D]),
      },
      kv: gqaLayout(H, H),
    });
  }
  const finalNorm = await norm(`${prefix}ln_f`);
  const lmHead = cfg.tiedEmbeddings || !index.has('lm_head.weight') ? embed : await get('lm_head.weight', [V, D]);
  cfg.tiedEmbeddings = lmHead === embed;
  return { config: cfg, embed, positionEmbed, layers, finalNorm, lmHead, source: { format: 'safetensors', files: [] } };
}
