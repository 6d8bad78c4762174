// Forward-pass throughput: tokens per second for a batch of B sequences of T positions (all logits computed), after a
// warm-up. A benchmark, never a test.
import type { GpuRuntime } from '../gpu/runtime';
import type { Model, ModelConfig } from '../model/types';
import { gqaLayout } from '../model/heads';
import { GpuModel } from '../eval/gpuModel';
import { ForwardPass } from '../eval/forward';
import { randomArray } from '../reference/linalg';

export interface ForwardBenchRow {
  model: string;
  batch: number;
  seq: number;
  ms: number;
  tokensPerSecond: number;
  iterations: number;
  /** GPU dispatches of one forward pass (all logits, no loss), and per layer. */
  dispatches: number;
  dispatchesPerLayer: number;
}

/** GPT-2 small's shapes (12 layers, 12 heads, width 768, vocab 50257) with seeded random weights. */
export function gpt2SmallShaped(): Model {
  const D = 768;
  const L = 12;
  const H = 12;
  const F = 3072;
  const V = 50257;
  const T = 1024;
  const config: ModelConfig = {
    family: 'gpt2',
    architecture: 'GPT2LMHeadModel (random weights)',
    layers: L,
    dim: D,
    heads: H,
    headDim: D / H,
    ffnDim: F,
    vocab: V,
    contextLength: T,
    norm: 'layernorm',
    normEps: 1e-5,
    positional: { kind: 'learned' },
    mlp: 'gelu_tanh',
    attentionBias: { q: true, k: true, v: true, o: true },
    mlpBias: true,
    tiedEmbeddings: true,
    parallelResidual: false,
    attentionScale: 1 / Math.sqrt(D / H),
    attentionWindow: Array(L).fill(null),
    bosId: 50256,
    eosId: 50256,
  };
  let seed = 1;
  const w = (n: number, scale = 0.02) => randomArray(n, seed++, -scale * 1.7, scale * 1.7);
  const ones = () => new Float32Array(D).fill(1);
  const embed = w(V * D);
  return {
    config,
    embed,
    positionEmbed: w(T * D, 0.01),
    layers: Array.from({ length: L }, () => ({
      attnNorm: { weight: ones(), bias: new Float32Array(D) },
      mlpNorm: { weight: ones(), bias: new Float32Array(D) },
      attn: {
        wq: w(D * D),
        wk: w(D * D),
        wv: w(D * D),
        wo: w(D * D),
        bq: new Float32Array(D),
        bk: new Float32Array(D),
        bv: new Float32Array(D),
        bo: new Float32Array(D),
      },
      mlp: { up: w(F * D), upBias: new Float32Array(F), down: w(D * F), downBias: new Float32Array(D) },
      kv: gqaLayout(H, H),
    })),
    finalNorm: { weight: ones(), bias: new Float32Array(D) },
    lmHead: embed,
    source: { format: 'safetensors', files: [] },
  };
}

export async function benchForward(rt: GpuRuntime, name: string, model: Model, batch: number, seq: number, budgetMs = 2000): Promise<ForwardBenchRow> {
  const T = Math.min(seq, model.config.contextLength);
  const gm = await GpuModel.upload(rt, model);
  const fp = await ForwardPass.create(gm, { batch, chunk: T, cacheT: T });
  const ids = Uint32Array.from(randomArray(batch * T, 5, 0, model.config.vocab), (v) => Math.min(model.config.vocab - 1, Math.floor(v)));
  try {
    await fp.run(ids, T, 0);
    await rt.finish();
    let t0 = performance.now();
    const d0 = rt.stats.dispatches;
    await fp.run(ids, T, 0);
    const dispatches = rt.stats.dispatches - d0;
    await rt.finish();
    const once = performance.now() - t0;
    const iterations = Math.max(2, Math.min(200, Math.floor(budgetMs / once)));
    t0 = performance.now();
    for (let i = 0; i < iterations; i++) await fp.run(ids, T, 0);
    await rt.finish();
    const ms = (performance.now() - t0) / iterations;
    // Per layer: one forward of the same model with the layers' dispatches isolated (embedding, final norm, LM head apart).
    const L = model.config.layers;
    const d1 = rt.stats.dispatches;
    await fp.run(ids, T, 0, undefined, { skipLogits: true });
    const withoutHead = rt.stats.dispatches - d1;
    const embedParts = gm.embed.parts.length;
    await rt.finish();
    return {
      model: name,
      batch,
      seq: T,
      ms,
      tokensPerSecond: (batch * T * 1000) / ms,
      iterations,
      dispatches,
      dispatchesPerLayer: (withoutHead - embedParts) / L,
    };
  } finally {
    fp.release();
    gm.release();
  }
}
