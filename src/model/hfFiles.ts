// The files of a Hugging Face model folder: config.json and friends as JSON with clear errors, and the safetensors
// weights — one file or the shards model.safetensors.index.json names — as one index of tensors by name, read on demand.
import { ModelFormatError } from './errors';
import { throwIfAborted, type LongWorkOptions } from '../progress';
import { readFloatTensor, readSafetensorsHeader, type SafetensorsFile, type TensorInfo } from './safetensors';

/** Blobs by file name (the base name within the model folder). */
export type FileMap = Map<string, Blob>;

export async function readJsonFile(files: FileMap, name: string): Promise<unknown> {
  const blob = files.get(name);
  if (!blob) throw new ModelFormatError(name, 'the file is missing');
  if (blob.size === 0) throw new ModelFormatError(name, 'the file is empty');
  const text = await blob.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(
      name,
      `the JSON does not parse (${e instanceof Error ? e.message : String(e)})`,
      'The file is corrupt or was saved incompletely',
    );
  }
}

/** All tensors of a checkpoint by name, whichever file (shard) holds them. */
export class TensorIndex {
  private readonly where = new Map<string, { file: SafetensorsFile; info: TensorInfo }>();
  readonly files: SafetensorsFile[] = [];
  private readonly architecture: string;

  constructor(architecture: string) {
    this.architecture = architecture;
  }

  add(file: SafetensorsFile) {
    this.files.push(file);
    for (const [name, info] of file.tensors) {
      const prior = this.where.get(name);
      if (prior) throw new ModelFormatError(file.name, `tensor "${name}" is also in ${prior.file.name}`, 'Shards must not repeat tensors');
      this.where.set(name, { file, info });
    }
  }

  has(name: string) {
    return this.where.has(name);
  }

  /** The first of several names that exists (checkpoints differ in prefixes such as "transformer."). */
  resolve(...names: string[]): string | null {
    return names.find((n) => this.where.has(n)) ?? null;
  }

  async get(name: string, shape: number[]): Promise<Float32Array> {
    const hit = this.where.get(name);
    if (!hit) {
      throw new ModelFormatError(
        this.files.length === 1 ? this.files[0].name : 'checkpoint',
        `tensor "${name}" is missing (${this.architecture} needs it)`,
        'Is this the right checkpoint for its config.json?',
      );
    }
    const same = hit.info.shape.length === shape.length && hit.info.shape.every((d, i) => d === shape[i]);
    if (!same) {
      throw new ModelFormatError(
        hit.file.name,
        `tensor "${name}" has shape ${JSON.stringify(hit.info.shape)}, expected ${JSON.stringify(shape)} from config.json`,
      );
    }
    return readFloatTensor(hit.file, hit.info);
  }

  get count() {
    return this.where.size;
  }
}

/** The safetensors files of a folder: the shards named by the index, or every *.safetensors file. */
export async function openSafetensors(files: FileMap, architecture: string, opts: LongWorkOptions = {}): Promise<TensorIndex> {
  const index = new TensorIndex(architecture);
  let names: string[];
  if (files.has('model.safetensors.index.json')) {
    const idx = (await readJsonFile(files, 'model.safetensors.index.json')) as { weight_map?: Record<string, string> };
    if (!idx || typeof idx.weight_map !== 'object') throw new ModelFormatError('model.safetensors.index.json', 'it has no weight_map');
    names = [...new Set(Object.values(idx.weight_map!))].sort();
    const missing = names.filter((n) => !files.has(n));
    if (missing.length) {
      throw new ModelFormatError(
        'model.safetensors.index.json',
        `${missing.length} of its ${names.length} shards are missing (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`,
        'Choose or drop the whole folder',
      );
    }
  } else {
    names = [...files.keys()].filter((n) => n.endsWith('.safetensors')).sort();
    if (!names.length)
      throw new ModelFormatError('config.json', 'no .safetensors file is beside it', 'Choose the folder with config.json and its model*.safetensors files');
  }
  for (const [i, n] of names.entries()) {
    throwIfAborted(opts.signal);
    index.add(await readSafetensorsHeader(files.get(n)!, n));
    opts.onProgress?.({ stage: 'read headers', done: i + 1, total: names.length, detail: n });
  }
  return index;
}
