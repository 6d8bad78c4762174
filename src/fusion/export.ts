// Export of a fused model as a folder: a Hugging Face GQA checkpoint (config.json with num_key_value_heads +
// model.safetensors) when the result is uniform GQA with contiguous groups and Llama/Qwen2-shaped; otherwise headlab's DHA
// checkpoint (config.json with explicit per-layer K/V maps, read back by src/model/dha.ts; any family, any layout). Also a
// llama2.c model.bin when that format can hold the result (Llama-shaped, interleaved RoPE, uniform GQA), and the experiment. The tokenizer files
// of the source travel along so that every headlab command can use the folder directly.
import type { Model } from '../model/types';
import { dhaConfigOf, writeDhaSafetensors } from '../model/dha';
import { writeLlama2cLegacy } from '../model/llama2c';
import { uniformGqa } from './edit';
import { hfGqaObstacle, writeHfGqa } from '../model/hf-writer';

export interface ExportFile {
  name: string;
  data: Uint8Array;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** FNV-1a 64-bit over bytes, as 16 hex digits: identifies the source checkpoint in experiment records. */
export function fnv1a64(chunks: Iterable<Uint8Array>): string {
  let h = 0xcbf29ce484222325n;
  const p = 0x100000001b3n;
  const mask = (1n << 64n) - 1n;
  for (const c of chunks) for (let i = 0; i < c.length; i++) h = ((h ^ BigInt(c[i])) * p) & mask;
  return h.toString(16).padStart(16, '0');
}

/** Hash of a model's weights (all tensors in `tensorsOf` order, as float32 bytes). Sampled every 7th byte for speed. */
export function modelHash(model: Model): string {
  const parts: Uint8Array[] = [];
  for (const l of [model.embed, ...model.layers.flatMap((x) => [x.attn.wq, x.attn.wk, x.attn.wv, x.attn.wo, x.mlp.up, x.mlp.down]), model.lmHead]) {
    const b = new Uint8Array(l.buffer, l.byteOffset, l.byteLength);
    const s = new Uint8Array(Math.ceil(b.length / 7));
    for (let i = 0, j = 0; i < b.length; i += 7, j++) s[j] = b[i];
    parts.push(s);
  }
  return fnv1a64(parts);
}

/** Whether writeLlama2cLegacy can hold the model. */
export function fitsLlama2c(model: Model): boolean {
  const c = model.config;
  return (
    c.norm === 'rmsnorm' &&
    c.mlp === 'swiglu' &&
    c.positional.kind === 'rotary' &&
    c.positional.style === 'interleaved' &&
    c.positional.fraction === 1 &&
    !c.mlpBias &&
    !Object.values(c.attentionBias).some(Boolean) &&
    uniformGqa(model) !== null
  );
}

export function exportFusedModel(model: Model, opts: { tokenizerFiles?: ExportFile[]; experiment?: unknown } = {}): ExportFile[] {
  const G = uniformGqa(model);
  const files: ExportFile[] = [];
  if (hfGqaObstacle(model, G) === null) {
    const hf = writeHfGqa(model, G!);
    files.push({ name: 'config.json', data: utf8(`${JSON.stringify(hf.config, null, 1)}\n`) }, { name: 'model.safetensors', data: hf.safetensors });
  } else {
    files.push(
      { name: 'config.json', data: utf8(`${JSON.stringify(dhaConfigOf(model), null, 1)}\n`) },
      { name: 'model.safetensors', data: writeDhaSafetensors(model) },
    );
  }
  if (fitsLlama2c(model)) files.push({ name: 'model.bin', data: writeLlama2cLegacy(model) });
  for (const t of opts.tokenizerFiles ?? []) files.push(t);
  if (opts.experiment !== undefined) files.push({ name: 'experiment.json', data: utf8(`${JSON.stringify(opts.experiment, null, 1)}\n`) });
  return files;
}
