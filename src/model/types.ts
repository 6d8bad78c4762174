// One family-free representation of a causal language model, seen in heads. Every loader produces it; everything
// downstream (similarity, fusion, evaluation) reads only this. Matrices are row-major in PyTorch's out × in layout.

export type ModelFamily = 'llama' | 'gpt2' | 'gpt-neox' | 'qwen2' | 'gpt-neo' | 'llama2c';

export type RotaryStyle =
  /** Planes are consecutive pairs (2p, 2p+1): llama2.c and Meta's original Llama code. */
  | 'interleaved'
  /** Planes pair p with p + rotaryDims/2 (`rotate_half`): Hugging Face Llama, Qwen2, GPT-NeoX. */
  | 'half';

export type Positional =
  | { kind: 'learned' }
  | {
      kind: 'rotary';
      style: RotaryStyle;
      /** share of each head's dims that rotate */
      fraction: number;
      theta: number;
      /**
       * Precision of the inverse frequencies. transformers keeps them in a buffer that takes the dtype the checkpoint is
       * loaded in, so a BF16 (or F16) checkpoint rotates with frequencies rounded to BF16 (F16) even when run in float32.
       * Absent: float32.
       */
      invFreqPrecision?: 'f32' | 'bf16' | 'f16';
    }
  | { kind: 'none' };

export type NormKind = 'rmsnorm' | 'layernorm';
/** swiglu: down(silu(gate·x) ⊙ up·x); gelu_*: down(gelu(up·x)). */
export type MlpKind = 'swiglu' | 'gelu_tanh' | 'gelu_erf';

export interface ModelConfig {
  family: ModelFamily;
  /** The architecture as named by its source (e.g. LlamaForCausalLM, llama2.c legacy). */
  architecture: string;
  layers: number;
  dim: number;
  /** Query heads. */
  heads: number;
  headDim: number;
  ffnDim: number;
  vocab: number;
  contextLength: number;
  norm: NormKind;
  normEps: number;
  positional: Positional;
  mlp: MlpKind;
  attentionBias: { q: boolean; k: boolean; v: boolean; o: boolean };
  mlpBias: boolean;
  tiedEmbeddings: boolean;
  /** x + attn(norm1(x)) + mlp(norm2(x)) (GPT-NeoX), instead of the sequential residual. */
  parallelResidual: boolean;
  /** Multiplies q·k: 1/√headDim usually; 1 for GPT-Neo, which does not scale scores. */
  attentionScale: number;
  /** Per layer: null for global attention, or the window of a local layer (GPT-Neo) in tokens. */
  attentionWindow: (number | null)[];
  bosId: number | null;
  eosId: number | null;
}

/**
 * Which K head and which V head each query head reads, per layer. MHA: identity; GQA: kHeadOf[h] = ⌊h·G/H⌋ for K and V;
 * DHA: any map, and K and V may differ.
 */
export interface KvLayout {
  kHeads: number;
  vHeads: number;
  kHeadOf: number[];
  vHeadOf: number[];
  /**
   * Where the heads came from, when the layout was edited (fused, reordered): the original index of each query head, and the
   * original K heads and V heads merged into each K head and V head. Absent: the checkpoint's own heads.
   */
  origin?: HeadOrigin;
}

export interface HeadOrigin {
  q: number[];
  k: number[][];
  v: number[][];
}

export interface Norm {
  weight: Float32Array;
  bias?: Float32Array;
}

export interface AttentionWeights {
  /** [heads·headDim, dim] */
  wq: Float32Array;
  /** [kHeads·headDim, dim] */
  wk: Float32Array;
  /** [vHeads·headDim, dim] */
  wv: Float32Array;
  /** [dim, heads·headDim] */
  wo: Float32Array;
  bq?: Float32Array;
  bk?: Float32Array;
  bv?: Float32Array;
  bo?: Float32Array;
}

export interface MlpWeights {
  /** [ffnDim, dim] */
  up: Float32Array;
  /** [ffnDim, dim], SwiGLU only */
  gate?: Float32Array;
  /** [dim, ffnDim] */
  down: Float32Array;
  gateBias?: Float32Array;
  upBias?: Float32Array;
  downBias?: Float32Array;
}

/**
 * Latent KV (multi-head latent attention, MLA; docs/ALGORITHMS.md §6): the layer caches one latent c = x·W_dkvᵀ of `rank`
 * values per token, shared by every head, plus each K head's kept rotary dims; keys and values are rebuilt from them:
 *   K_h = rope on kept pairs only( [c·W_ukᵀ]_h in the head's position-free dims, [x·W_krᵀ]_h in its kept rotary dims ) + bk_h
 *   V_h = [c·W_uvᵀ]_h + bv_h
 * Queries rotate on the kept pairs of the K head they read. A latent layer's attn.wk and attn.wv are empty (length 0): the
 * latent replaces them; attn.bk and attn.bv stay the full-width biases.
 */
export interface LatentKv {
  /** d_c: latent values per token. */
  rank: number;
  /** Per K head, the rotary pairs (0 … rotDims/2 − 1, ascending) that keep RoPE; every head keeps the same number r. */
  ropePairs: number[][];
  /** [rank, dim] */
  wdkv: Float32Array;
  /** [kHeads·(headDim − 2r), rank]: each K head's position-free dims, in ascending dim order. */
  wuk: Float32Array;
  /** [kHeads·2r, dim]: each K head's kept rotary dims (ascending), straight from x. */
  wkr: Float32Array;
  /** [vHeads·headDim, rank] */
  wuv: Float32Array;
}

export interface LayerWeights {
  attnNorm: Norm;
  mlpNorm: Norm;
  attn: AttentionWeights;
  mlp: MlpWeights;
  kv: KvLayout;
  /** Present when the layer's KV cache is a latent (MLA); then attn.wk and attn.wv are empty. */
  latent?: LatentKv;
}

export interface Model {
  config: ModelConfig;
  /** [vocab, dim] */
  embed: Float32Array;
  /** [contextLength, dim], learned positions only */
  positionEmbed?: Float32Array;
  layers: LayerWeights[];
  finalNorm: Norm;
  /** [vocab, dim]; the same array as embed when tied */
  lmHead: Float32Array;
  lmHeadBias?: Float32Array;
  source: { format: 'safetensors' | 'llama2c' | 'dha' | 'mla'; files: string[] };
}
