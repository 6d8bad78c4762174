// Node: a model path (a checkpoint file or a Hugging Face folder) as named Blobs backed by the files (fs.openAsBlob), so
// the loaders read slices, never whole files. Used by the CLI and tests.
import { openAsBlob } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FileMap } from './hfFiles';
import { ModelFormatError } from './errors';

const COMPANIONS = /^(config\.json|tokenizer\.json|tokenizer_config\.json|model\.safetensors\.index\.json|tokenizer\.bin|tok\d+\.bin|.*\.safetensors)$/;

export async function filesFromPath(target: string, opts: { tokenizer?: string } = {}): Promise<{ files: FileMap; name: string; primary?: string }> {
  let st;
  try {
    st = await stat(target);
  } catch {
    throw new ModelFormatError(target, 'no such file or folder');
  }
  const files: FileMap = new Map();
  const add = async (p: string) => files.set(path.basename(p), await openAsBlob(p));
  if (st.isDirectory()) {
    for (const f of (await readdir(target)).sort()) {
      const p = path.join(target, f);
      if ((await stat(p)).isFile() && COMPANIONS.test(f)) await add(p);
    }
    if (!files.size) throw new ModelFormatError(target, 'the folder holds no config.json, *.safetensors or llama2.c files');
  } else {
    await add(target);
    const dir = path.dirname(target);
    const base = path.basename(target);
    for (const f of (await readdir(dir)).sort()) {
      if (f === base) continue;
      // A safetensors file brings its folder's config, tokenizer and shards; a llama2.c .bin brings its tokenizer.
      const wanted = base.endsWith('.safetensors') ? COMPANIONS.test(f) && !/\.bin$/.test(f) : /^(tokenizer\.bin|tok\d+\.bin)$/.test(f);
      if (wanted && (await stat(path.join(dir, f))).isFile()) await add(path.join(dir, f));
    }
  }
  if (opts.tokenizer) {
    for (const k of [...files.keys()]) if (/^(tokenizer\.bin|tok\d+\.bin)$/.test(k)) files.delete(k);
    const tokBase = path.basename(opts.tokenizer);
    files.set(/\.json$/.test(tokBase) ? 'tokenizer.json' : /^tok\d+\.bin$/.test(tokBase) ? tokBase : 'tokenizer.bin', await openAsBlob(opts.tokenizer));
  }
  return { files, name: path.basename(target), primary: st.isDirectory() ? undefined : path.basename(target) };
}
