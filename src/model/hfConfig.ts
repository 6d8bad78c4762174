// Hugging Face config.json read into headlab's terms: which family an architecture is, numbers with clear errors, the
// rotary parameters under their several names, activations, and what the learned-position families (GPT-2, GPT-Neo) share.
import type { MlpKind, ModelConfig, ModelFamily } from './types';
import { ModelFormatError } from './errors';

export const SUPPORTED_ARCHITECTURES: Record<string, ModelFamily> = {
  LlamaForCausalLM: 'llama',
  GPT2LMHeadModel: 'gpt2',
  GPTNeoXForCausalLM: 'gpt-neox',
  Qwen2ForCausalLM: 'qwen2',
  GPTNeoForCausalLM: 'gpt-neo',
};

const MODEL_TYPES: Record<string, ModelFamily> = { llama: 'llama', gpt2: 'gpt2', gpt_neox: 'gpt-neox', qwen2: 'qwen2', gpt_neo: 'gpt-neo' };

/** config.json as parsed. */
export type HfConfig = Record<string, unknown>;

export function familyOf(config: HfConfig): { family: ModelFamily; architecture: string } {
  const archs = Array.isArray(config.architectures) ? (config.architectures as string[]) : [];
  for (const a of archs) if (a in SUPPORTED_ARCHITECTURES) return { family: SUPPORTED_ARCHITECTURES[a], architecture: a };
  const mt = typeof config.model_type === 'string' ? config.model_type : '';
  if (!archs.length && mt in MODEL_TYPES) {
    const family = MODEL_TYPES[mt];
    return { family, architecture: Object.keys(SUPPORTED_ARCHITECTURES).find((k) => SUPPORTED_ARCHITECTURES[k] === family)! };
  }
  throw new ModelFormatError(
    'config.json',
    `architecture ${archs.length ? archs.join(', ') : mt || '(none given)'} is not supported`,
    `headlab reads ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}, and llama2.c .bin checkpoints`,
  );
}

export const num = (c: HfConfig, key: string, fallback?: number): number => {
  const v = c[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (fallback !== undefined && (v === undefined || v === null)) return fallback;
  throw new ModelFormatError('config.json', `"${key}" is ${v === undefined ? 'missing' : `not a number (${JSON.stringify(v)})`}`);
};

export function ropeParameters(c: HfConfig): { theta: number; fraction?: number; type: string } {
  const rp = (c.rope_parameters ?? c.rope_scaling ?? {}) as Record<string, unknown>;
  const type = (rp.rope_type ?? rp.type ?? 'default') as string;
  const theta = (rp.rope_theta as number | undefined) ?? (c.rope_theta as number | undefined) ?? (c.rotary_emb_base as number | undefined) ?? 10000;
  const fraction = (rp.partial_rotary_factor as number | undefined) ?? (c.partial_rotary_factor as number | undefined) ?? (c.rotary_pct as number | undefined);
  return { theta, fraction, type };
}

/** The dtype transformers loads the checkpoint in (config "dtype", formerly "torch_dtype"); it rounds the RoPE frequencies. */
export function invFreqPrecision(c: HfConfig): 'f32' | 'bf16' | 'f16' {
  const d = c.dtype ?? c.torch_dtype;
  return d === 'bfloat16' ? 'bf16' : d === 'float16' ? 'f16' : 'f32';
}

export function activation(name: unknown, family: string): MlpKind {
  switch (name) {
    case 'silu':
    case 'swish':
      return 'swiglu';
    case 'gelu':
      return 'gelu_erf';
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return 'gelu_tanh';
    default:
      throw new ModelFormatError(
        'config.json',
        `activation ${JSON.stringify(name)} of ${family} is not supported`,
        'headlab runs silu (SwiGLU), gelu and gelu_new',
      );
  }
}

export function baseConfig(c: HfConfig, family: ModelFamily, architecture: string): Pick<ModelConfig, 'family' | 'architecture' | 'bosId' | 'eosId'> {
  const id = (v: unknown) => (typeof v === 'number' ? v : Array.isArray(v) && typeof v[0] === 'number' ? (v[0] as number) : null);
  return { family, architecture, bosId: id(c.bos_token_id), eosId: id(c.eos_token_id) };
}

/** What GPT-2 and GPT-Neo share: LayerNorm, learned positions, a GELU MLP with biases, tied embeddings by default. */
export function learnedPositionsConfig(
  c: HfConfig,
  family: 'gpt2' | 'gpt-neo',
  architecture: string,
  s: { L: number; D: number; H: number; F: number; V: number; T: number },
): Omit<ModelConfig, 'attentionBias' | 'attentionScale' | 'attentionWindow'> {
  return {
    ...baseConfig(c, family, architecture),
    layers: s.L,
    dim: s.D,
    heads: s.H,
    headDim: s.D / s.H,
    ffnDim: s.F,
    vocab: s.V,
    contextLength: s.T,
    norm: 'layernorm',
    normEps: num(c, 'layer_norm_epsilon', 1e-5),
    positional: { kind: 'learned' },
    mlp: activation(c.activation_function ?? 'gelu_new', architecture),
    mlpBias: true,
    tiedEmbeddings: c.tie_word_embeddings !== false,
    parallelResidual: false,
  };
}
