// Golden tensors computed with transformers: input_ids [B, T] and logits [B, T, V].
import { openAsBlob } from 'node:fs';
import { readFloatTensor, readIntTensor, readSafetensorsHeader } from '../src/model/safetensors';

export async function golden(path: string) {
  const f = await readSafetensorsHeader(await openAsBlob(path), path);
  const idsInfo = f.tensors.get('input_ids')!;
  const logitsInfo = f.tensors.get('logits')!;
  return { ids: await readIntTensor(f, idsInfo), idsShape: idsInfo.shape, logits: await readFloatTensor(f, logitsInfo), logitsShape: logitsInfo.shape };
}
