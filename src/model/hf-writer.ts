// Writes a Llama- or Qwen2-shaped model with uniform, contiguous GQA as a Hugging Face checkpoint (config.json with
// num_key_value_heads + model.safetensors under transformers' tensor names), so that transformers and our own HF loader
// read it. llama2.c models rotate interleaved pairs; Hugging Face Llama rotates halves, so each Q and K head's rows are
// permuted (row p ← 2p, row dh/2 + p ← 2p + 1), exactly what llama2.c's export does.
import type { Model } from './types';
import { writeSafetensors } from './safetensors';
import { rotaryTheta } from './rotary';

/** Why the model cannot be written as a Hugging Face GQA checkpoint, or null when it can. */
export function hfGqaObstacle(model: Model, G: number | null): string | null {
  const c = model.config;
  if (model.layers.some((l) => l.latent)) return 'its layers cache a latent (MLA), which no transformers config of these families holds';
  if (G === null) return 'K/V head counts differ across layers, K and V groups differ, or groups are not contiguous';
  if (!['llama', 'llama2c', 'qwen2'].includes(c.family)) return `the ${c.family} family has no GQA config in transformers`;
  if (c.norm !== 'rmsnorm' || c.mlp !== 'swiglu' || c.positional.kind !== 'rotary' || c.positional.fraction !== 1) return 'not Llama-shaped';
  if ((c.positional.invFreqPrecision ?? 'f32') !== 'f32') return 'its rotary frequencies follow a 16-bit dtype, which an F32 export would change';
  if (c.attentionWindow.some((w) => w !== null)) return 'it has sliding-window layers';
  if (c.mlpBias || c.attentionBias.o || (c.family !== 'qwen2' && (c.attentionBias.q || c.attentionBias.k || c.attentionBias.v)))
    return 'it has biases a Llama config cannot name';
  return null;
}

function interleavedToHalf(w: Float32Array, heads: number, dh: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let p = 0; p < dh / 2; p++) {
      out.set(w.subarray((h * dh + 2 * p) * cols, (h * dh + 2 * p + 1) * cols), (h * dh + p) * cols);
      out.set(w.subarray((h * dh + 2 * p + 1) * cols, (h * dh + 2 * p + 2) * cols), (h * dh + dh / 2 + p) * cols);
    }
  }
  return out;
}

export function writeHfGqa(model: Model, G: number): { config: Record<string, unknown>; safetensors: Uint8Array } {
  const c = model.config;
  const why = hfGqaObstacle(model, G);
  if (why) throw new Error(`cannot write a Hugging Face GQA checkpoint: ${why}`);
  const qwen = c.family === 'qwen2';
  const interleaved = c.positional.kind === 'rotary' && c.positional.style === 'interleaved';
  const dh = c.headDim;
  const fix = (w: Float32Array, heads: number, cols: number) => (interleaved ? interleavedToHalf(w, heads, dh, cols) : w);
  const tensors: { name: string; data: Float32Array; shape: number[] }[] = [{ name: 'model.embed_tokens.weight', data: model.embed, shape: [c.vocab, c.dim] }];
  model.layers.forEach((l, i) => {
    const p = `model.layers.${i}`;
    tensors.push(
      { name: `${p}.input_layernorm.weight`, data: l.attnNorm.weight, shape: [c.dim] },
      { name: `${p}.post_attention_layernorm.weight`, data: l.mlpNorm.weight, shape: [c.dim] },
      { name: `${p}.self_attn.q_proj.weight`, data: fix(l.attn.wq, c.heads, c.dim), shape: [c.heads * dh, c.dim] },
      { name: `${p}.self_attn.k_proj.weight`, data: fix(l.attn.wk, G, c.dim), shape: [G * dh, c.dim] },
      { name: `${p}.self_attn.v_proj.weight`, data: l.attn.wv, shape: [G * dh, c.dim] },
      { name: `${p}.self_attn.o_proj.weight`, data: l.attn.wo, shape: [c.dim, c.heads * dh] },
      { name: `${p}.mlp.gate_proj.weight`, data: l.mlp.gate!, shape: [c.ffnDim, c.dim] },
      { name: `${p}.mlp.up_proj.weight`, data: l.mlp.up, shape: [c.ffnDim, c.dim] },
      { name: `${p}.mlp.down_proj.weight`, data: l.mlp.down, shape: [c.dim, c.ffnDim] },
    );
    if (l.attn.bq) tensors.push({ name: `${p}.self_attn.q_proj.bias`, data: fix(l.attn.bq, c.heads, 1), shape: [c.heads * dh] });
    if (l.attn.bk) tensors.push({ name: `${p}.self_attn.k_proj.bias`, data: fix(l.attn.bk, G, 1), shape: [G * dh] });
    if (l.attn.bv) tensors.push({ name: `${p}.self_attn.v_proj.bias`, data: l.attn.bv, shape: [G * dh] });
  });
  tensors.push({ name: 'model.norm.weight', data: model.finalNorm.weight, shape: [c.dim] });
  if (!c.tiedEmbeddings) tensors.push({ name: 'lm_head.weight', data: model.lmHead, shape: [c.vocab, c.dim] });
  const config: Record<string, unknown> = {
    architectures: [qwen ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: qwen ? 'qwen2' : 'llama',
    hidden_size: c.dim,
    intermediate_size: c.ffnDim,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: G,
    head_dim: dh,
    vocab_size: c.vocab,
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.normEps,
    rope_theta: rotaryTheta(c),
    hidden_act: 'silu',
    tie_word_embeddings: c.tiedEmbeddings,
    torch_dtype: 'float32',
    ...(qwen ? {} : { attention_bias: false, mlp_bias: false }),
    ...(c.bosId !== null ? { bos_token_id: c.bosId } : {}),
    ...(c.eosId !== null ? { eos_token_id: c.eosId } : {}),
  };
  return {
    config,
    safetensors: writeSafetensors(
      tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: t.data })),
      { format: 'pt' },
    ),
  };
}
