// Checkpoints of the families without a shared fixture (Qwen2, GPT-Neo), written here with our safetensors writer and read
// back through the real loaders, so that the family quirks are resolved where they always are.
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors';
import { randomArray } from '../src/reference/linalg';
import type { FileMap } from '../src/model/hfFiles';

export const folder = (entries: Record<string, Uint8Array | string>): FileMap =>
  new Map(Object.entries(entries).map(([k, v]) => [k, new Blob([v as BlobPart])]));

function tensors() {
  const ts: TensorToWrite[] = [];
  const t = (name: string, shape: number[], scale = 1) =>
    ts.push({
      name,
      dtype: 'F32',
      shape,
      data: randomArray(
        shape.reduce((a, b) => a * b, 1),
        ts.length + 1,
        -scale,
        scale,
      ),
    });
  return { ts, t };
}

/** GPT-Neo: a global and a local layer (window 4), unscaled scores, learned positions, gelu_new, tied embeddings. */
export function gptNeoFiles(hidden = 8, heads = 2): FileMap {
  const cfg = JSON.stringify({
    architectures: ['GPTNeoForCausalLM'],
    hidden_size: hidden,
    num_heads: heads,
    num_layers: 2,
    vocab_size: 10,
    max_position_embeddings: 16,
    attention_types: [[['global', 'local'], 1]],
    window_size: 4,
    intermediate_size: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
  });
  const { ts, t } = tensors();
  t('transformer.wte.weight', [10, hidden]);
  t('transformer.wpe.weight', [16, hidden]);
  for (let l = 0; l < 2; l++) {
    const p = `transformer.h.${l}`;
    for (const n of ['ln_1', 'ln_2']) {
      t(`${p}.${n}.weight`, [hidden]);
      t(`${p}.${n}.bias`, [hidden]);
    }
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) t(`${p}.attn.attention.${n}.weight`, [hidden, hidden], 0.5);
    t(`${p}.attn.attention.out_proj.bias`, [hidden]);
    t(`${p}.mlp.c_fc.weight`, [4 * hidden, hidden], 0.5);
    t(`${p}.mlp.c_fc.bias`, [4 * hidden]);
    t(`${p}.mlp.c_proj.weight`, [hidden, 4 * hidden], 0.5);
    t(`${p}.mlp.c_proj.bias`, [hidden]);
  }
  t('transformer.ln_f.weight', [hidden]);
  t('transformer.ln_f.bias', [hidden]);
  return folder({ 'config.json': cfg, 'model.safetensors': writeSafetensors(ts) });
}

/** Qwen2: q/k/v biases without an o bias, GQA (4 query heads, 2 KV heads), untied LM head, θ 10⁶. */
export function qwen2Files(): FileMap {
  const D = 16;
  const cfg = JSON.stringify({
    architectures: ['Qwen2ForCausalLM'],
    hidden_size: D,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 24,
    vocab_size: 20,
    num_hidden_layers: 2,
    max_position_embeddings: 32,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: false,
    hidden_act: 'silu',
  });
  const { ts, t } = tensors();
  t('model.embed_tokens.weight', [20, D]);
  for (let l = 0; l < 2; l++) {
    const p = `model.layers.${l}`;
    t(`${p}.input_layernorm.weight`, [D]);
    t(`${p}.post_attention_layernorm.weight`, [D]);
    t(`${p}.self_attn.q_proj.weight`, [D, D], 0.5);
    t(`${p}.self_attn.q_proj.bias`, [D]);
    t(`${p}.self_attn.k_proj.weight`, [D / 2, D], 0.5);
    t(`${p}.self_attn.k_proj.bias`, [D / 2]);
    t(`${p}.self_attn.v_proj.weight`, [D / 2, D], 0.5);
    t(`${p}.self_attn.v_proj.bias`, [D / 2]);
    t(`${p}.self_attn.o_proj.weight`, [D, D], 0.5);
    t(`${p}.mlp.gate_proj.weight`, [24, D], 0.5);
    t(`${p}.mlp.up_proj.weight`, [24, D], 0.5);
    t(`${p}.mlp.down_proj.weight`, [D, 24], 0.5);
  }
  t('model.norm.weight', [D]);
  t('lm_head.weight', [20, D]);
  return folder({ 'config.json': cfg, 'model.safetensors': writeSafetensors(ts) });
}
