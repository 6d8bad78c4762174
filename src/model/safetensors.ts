// safetensors: an 8-byte little-endian header length, a JSON header { name: {dtype, shape, data_offsets} }, then the
// tensors' bytes. Read from a Blob by slices, tensor by tensor — a file is never held in one ArrayBuffer.
import { ModelFormatError } from './errors';
import { sniffFormat } from './sniff';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';
const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
  F6_E2M3: 1,
  F6_E3M2: 1,
  F4: 1,
  C64: 8,
};
const READABLE = new Set(['F32', 'F16', 'BF16', 'I32', 'I64']);
/** The safetensors reference implementation refuses headers above 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  start: number;
  end: number;
}

export interface SafetensorsFile {
  name: string;
  blob: Blob;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

export async function readSafetensorsHeader(blob: Blob, name: string): Promise<SafetensorsFile> {
  const size = blob.size;
  if (size === 0) throw new ModelFormatError(name, 'the file is empty', 'Choose the model file again; the download may have failed');
  const head = new Uint8Array(await blob.slice(0, Math.min(size, 16)).arrayBuffer());
  const format = sniffFormat(head);
  if (format === 'gguf')
    throw new ModelFormatError(name, 'this is a GGUF file (llama.cpp), not safetensors', 'headlab reads safetensors and llama2.c .bin checkpoints');
  if (format === 'zip') {
    throw new ModelFormatError(
      name,
      'this is a ZIP archive (a PyTorch .bin/.pt checkpoint), not safetensors',
      'Convert it with transformers (save_pretrained(..., safe_serialization=True)) or pick the .safetensors file',
    );
  }
  if (size < 8) throw new ModelFormatError(name, `the file has ${size} bytes, too short for a safetensors header (8 bytes + JSON)`, 'The file is truncated');
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new ModelFormatError(
      name,
      `the header length field says ${n} bytes, above the 100 MB limit of safetensors`,
      'This is not a safetensors file, or it is corrupt',
    );
  }
  const headerLen = Number(n);
  if (8 + headerLen > size) {
    throw new ModelFormatError(
      name,
      `the header length (${headerLen} bytes) runs past the end of the ${size}-byte file`,
      'The file is truncated or not safetensors',
    );
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(await blob.slice(8, 8 + headerLen).arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(name, `the JSON header does not parse (${e instanceof Error ? e.message : String(e)})`, 'The file is corrupt');
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new ModelFormatError(name, 'the JSON header is not an object');
  const dataStart = 8 + headerLen;
  const dataSize = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    if (key === '__metadata__') {
      metadata = (value ?? {}) as Record<string, string>;
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!v || typeof v !== 'object') throw new ModelFormatError(name, `tensor "${key}" has no description`);
    if (typeof v.dtype !== 'string' || !(v.dtype in DTYPE_BYTES)) {
      throw new ModelFormatError(
        name,
        `tensor "${key}" has unknown dtype ${JSON.stringify(v.dtype)}`,
        'Known dtypes are F32, F16, BF16, I32, I64 and the other safetensors types',
      );
    }
    if (!Array.isArray(v.shape) || v.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new ModelFormatError(name, `tensor "${key}" has an invalid shape ${JSON.stringify(v.shape)}`);
    }
    const off = v.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((d) => !Number.isSafeInteger(d) || d < 0) || off[0] > off[1]) {
      throw new ModelFormatError(name, `tensor "${key}" has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const shape = v.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[v.dtype];
    if (off[1] - off[0] !== expected) {
      throw new ModelFormatError(
        name,
        `tensor "${key}" (${v.dtype} ${JSON.stringify(shape)}) should take ${expected} bytes but its offsets span ${off[1] - off[0]}`,
      );
    }
    if (off[1] > dataSize) {
      throw new ModelFormatError(
        name,
        `tensor "${key}" ends at byte ${dataStart + off[1]} but the file has only ${size} bytes`,
        'The file is truncated; download it again',
      );
    }
    tensors.set(key, { name: key, dtype: v.dtype, shape, start: dataStart + off[0], end: dataStart + off[1] });
  }
  // The data must be indexed entirely: sorted by offset, each tensor starts where the previous one ended.
  const sorted = [...tensors.values()].sort((a, b) => a.start - b.start || a.end - b.end);
  let at = dataStart;
  let prev: TensorInfo | null = null;
  for (const t of sorted) {
    if (t.start < at) throw new ModelFormatError(name, `tensors "${prev?.name}" and "${t.name}" overlap`, 'The file is corrupt');
    if (t.start > at) throw new ModelFormatError(name, `${t.start - at} bytes before tensor "${t.name}" belong to no tensor`, 'The file is corrupt');
    at = t.end;
    prev = t;
  }
  if (at !== size) throw new ModelFormatError(name, `${size - at} bytes at the end of the file belong to no tensor`, 'The file is corrupt or was appended to');
  return { name, blob, tensors, metadata };
}

const f16Table = (() => {
  // Value of every f16 bit pattern; 256 KiB, built once.
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

/** A float tensor as f32 (F16 and BF16 are widened exactly). */
export async function readFloatTensor(file: SafetensorsFile, info: TensorInfo): Promise<Float32Array> {
  const buf = await file.blob.slice(info.start, info.end).arrayBuffer();
  if (buf.byteLength !== info.end - info.start) {
    throw new ModelFormatError(file.name, `tensor "${info.name}" could not be read in full (${buf.byteLength} of ${info.end - info.start} bytes)`);
  }
  switch (info.dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F16': {
      const h = new Uint16Array(buf);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = f16Table[h[i]];
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(buf);
      const bits = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) bits[i] = h[i] << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new ModelFormatError(
        file.name,
        `tensor "${info.name}" is ${info.dtype}, but headlab reads weights stored as F32, F16 or BF16`,
        READABLE.has(info.dtype) ? 'This tensor holds integers, not weights' : 'Convert the checkpoint to one of those dtypes',
      );
  }
}

/** An index tensor (I32 or I64) as Int32Array; I64 values must fit in 32 bits. */
export async function readIntTensor(file: SafetensorsFile, info: TensorInfo): Promise<Int32Array> {
  const buf = await file.blob.slice(info.start, info.end).arrayBuffer();
  if (info.dtype === 'I32') return new Int32Array(buf);
  if (info.dtype === 'I64') {
    const big = new BigInt64Array(buf);
    const out = new Int32Array(big.length);
    for (let i = 0; i < big.length; i++) {
      if (big[i] > 2147483647n || big[i] < -2147483648n) throw new ModelFormatError(file.name, `tensor "${info.name}" holds ${big[i]}, outside 32-bit range`);
      out[i] = Number(big[i]);
    }
    return out;
  }
  throw new ModelFormatError(file.name, `tensor "${info.name}" is ${info.dtype}; token ids must be I32 or I64`);
}

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'I32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Writes a safetensors file; the header is padded with spaces to a multiple of 8 bytes, tensors in the given order. */
export function writeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`writeSafetensors: "${t.name}" has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  while ((8 + enc.encode(json).length) % 8 !== 0) json += ' ';
  const jsonBytes = enc.encode(json);
  const out = new Uint8Array(8 + jsonBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let at = 8 + jsonBytes.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
