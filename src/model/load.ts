// One entry for every way a model arrives — a picked or dropped set of files, a folder, a URL's download — as named
// Blobs. It recognises the format, loads the Model and its tokenizer, and reports progress.
import type { Model } from './types';
import { loadHfModel } from './hf';
import { readJsonFile, type FileMap } from './hfFiles';
import { loadLlama2c } from './llama2c';
import { HfTokenizer, Llama2cTokenizer, type Tokenizer } from './tokenizer';
import { ModelFormatError } from './errors';
import { sniffFormat } from './sniff';
import { isDhaConfig, loadDhaModel } from './dha';
import { validateModel } from './heads';
import type { LongWorkOptions } from '../progress';

export interface LoadedModel {
  model: Model;
  tokenizer: Tokenizer | null;
  /** A display name: the folder or the checkpoint file. */
  name: string;
  notes: string[];
}

/** Base name of a path ("stories/stories260K.bin" → "stories260K.bin"). */
export function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

export function toFileMap(files: Iterable<[string, Blob]>): FileMap {
  const map: FileMap = new Map();
  for (const [path, blob] of files) map.set(baseName(path), blob);
  return map;
}

/** llama2.c's tokenizer beside a checkpoint: tokenizer.bin, or tok<vocab>.bin. */
export function findLlama2cTokenizer(files: FileMap, vocab: number): string | null {
  if (files.has(`tok${vocab}.bin`)) return `tok${vocab}.bin`;
  if (files.has('tokenizer.bin')) return 'tokenizer.bin';
  return null;
}

/**
 * `primary`: the file a person chose explicitly (the CLI's <model> path); it is taken as the checkpoint even when its name
 * does not say so, so that a wrong file is reported for what it is.
 */
export async function loadModelFiles(files: FileMap, opts: LongWorkOptions & { name?: string; primary?: string } = {}): Promise<LoadedModel> {
  const names = [...files.keys()];
  if (!names.length) throw new ModelFormatError('(no files)', 'nothing was given', 'Choose a llama2.c .bin, or a folder with config.json and *.safetensors');
  const notes: string[] = [];
  if (files.has('config.json')) {
    const cfg = await readJsonFile(files, 'config.json');
    const model = isDhaConfig(cfg) ? await loadDhaModel(files, cfg, opts) : await loadHfModel(files, opts);
    validateModel(model);
    let tokenizer: Tokenizer | null = null;
    if (files.has('tokenizer.json')) {
      const json = await readJsonFile(files, 'tokenizer.json');
      const cfg = files.has('tokenizer_config.json') ? ((await readJsonFile(files, 'tokenizer_config.json')) as Record<string, unknown>) : {};
      tokenizer = new HfTokenizer(json, cfg);
    } else {
      // Folders exported from llama2.c models keep their tokenizer.bin / tok<vocab>.bin.
      const tokName = findLlama2cTokenizer(files, model.config.vocab);
      if (tokName) tokenizer = Llama2cTokenizer.parse(await files.get(tokName)!.arrayBuffer(), model.config.vocab, tokName);
      else notes.push('No tokenizer.json: text tools need token ids until one is added.');
    }
    return { model, tokenizer, name: opts.name ?? 'config.json', notes };
  }
  const checkpoints =
    opts.primary && files.has(opts.primary) && !opts.primary.endsWith('.safetensors')
      ? [opts.primary]
      : names.filter((n) => !/^tok(enizer|\d+)\.bin$/.test(n) && !n.endsWith('.json') && !n.endsWith('.txt'));
  const safetensors = checkpoints.filter((n) => n.endsWith('.safetensors'));
  if (safetensors.length) {
    throw new ModelFormatError(safetensors[0], 'config.json is missing', 'A safetensors checkpoint needs its config.json: choose or drop the whole folder');
  }
  if (checkpoints.length !== 1) {
    throw new ModelFormatError(
      checkpoints.length ? checkpoints.join(', ') : names.join(', '),
      checkpoints.length ? 'more than one checkpoint was given' : 'no checkpoint was given',
      'Give one llama2.c .bin (with its tokenizer.bin), or a folder with config.json and *.safetensors',
    );
  }
  const name = checkpoints[0];
  const blob = files.get(name)!;
  const head = new Uint8Array(await blob.slice(0, 16).arrayBuffer());
  const kind = sniffFormat(head);
  if (kind === 'gguf') throw new ModelFormatError(name, 'this is a GGUF file (llama.cpp)', 'headlab reads safetensors folders and llama2.c .bin checkpoints');
  if (kind === 'zip')
    throw new ModelFormatError(name, 'this is a PyTorch ZIP checkpoint', "Save it as safetensors with transformers, or export it with llama2.c's export.py");
  const model = await loadLlama2c(blob, name, opts);
  validateModel(model);
  const tokName = findLlama2cTokenizer(files, model.config.vocab);
  let tokenizer: Tokenizer | null = null;
  if (tokName) tokenizer = Llama2cTokenizer.parse(await files.get(tokName)!.arrayBuffer(), model.config.vocab, tokName);
  else notes.push(`No tokenizer beside ${name} (tokenizer.bin or tok${model.config.vocab}.bin): text tools need token ids until one is added.`);
  return { model, tokenizer, name: opts.name ?? name, notes };
}
