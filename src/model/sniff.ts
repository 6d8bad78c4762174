// Recognise a model file by its first bytes, as Netron does, so that a wrong file gets a message that names what it is.
export type SniffedFormat = 'gguf' | 'zip' | 'llama2c-v1' | 'json' | 'unknown';

export function sniffFormat(head: Uint8Array): SniffedFormat {
  const ascii = (i: number, n: number) => String.fromCharCode(...head.subarray(i, i + n));
  if (head.length >= 4 && ascii(0, 4) === 'GGUF') return 'gguf';
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'zip';
  // llama2.c version 1: uint32 0x616b3432 ("ak42") little-endian.
  if (head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === 0x616b3432) return 'llama2c-v1';
  if (head.length >= 1 && (head[0] === 0x7b || head[0] === 0x5b)) return 'json';
  return 'unknown';
}
