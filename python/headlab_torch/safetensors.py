# safetensors with torch alone: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
# then the raw little-endian bytes of every tensor (the format src/model/safetensors.ts reads and writes). Reading is by
# tensor (seek + read), so a shard is never held whole; writing pads the header with spaces to a multiple of 8 bytes.
import ctypes
import json
import struct
import sys

import torch

from .errors import ModelFormatError

DTYPES = {
    'F64': torch.float64,
    'F32': torch.float32,
    'F16': torch.float16,
    'BF16': torch.bfloat16,
    'I64': torch.int64,
    'I32': torch.int32,
    'I16': torch.int16,
    'I8': torch.int8,
    'U8': torch.uint8,
    'BOOL': torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
BYTES = {'F64': 8, 'F32': 4, 'F16': 2, 'BF16': 2, 'I64': 8, 'I32': 4, 'I16': 2, 'I8': 1, 'U8': 1, 'BOOL': 1}
MAX_HEADER_BYTES = 100_000_000

if sys.byteorder != 'little':  # torch.frombuffer reads native order; safetensors is little-endian
    raise ImportError('headlab_torch reads safetensors on little-endian machines only')


class SafetensorsFile:
    """One safetensors file: its tensors' dtypes, shapes and byte ranges; `get` reads one tensor."""

    def __init__(self, path):
        self.path = path
        name = str(path)
        try:
            with open(path, 'rb') as f:
                head = f.read(8)
                if len(head) < 8:
                    raise ModelFormatError(name, f'the file has {len(head)} bytes, too short for a safetensors header')
                (n,) = struct.unpack('<Q', head)
                if n > MAX_HEADER_BYTES:
                    raise ModelFormatError(name, f'the header length field says {n} bytes, above the 100 MB limit of safetensors')
                text = f.read(n)
                f.seek(0, 2)
                size = f.tell()
        except OSError as e:
            raise ModelFormatError(name, f'cannot be read ({e.strerror or e})') from None
        if len(text) != n:
            raise ModelFormatError(name, f'the header length ({n} bytes) runs past the end of the file')
        try:
            header = json.loads(text.decode('utf-8'))
        except ValueError as e:
            raise ModelFormatError(name, f'the JSON header does not parse ({e})') from None
        if not isinstance(header, dict):
            raise ModelFormatError(name, 'the JSON header is not an object')
        self.metadata = header.pop('__metadata__', None) or {}
        start = 8 + n
        self.tensors = {}
        for key, v in header.items():
            dtype = v.get('dtype') if isinstance(v, dict) else None
            if dtype not in BYTES:
                raise ModelFormatError(name, f'tensor "{key}" has dtype {json.dumps(dtype)}, which headlab_torch does not read')
            shape = v.get('shape')
            off = v.get('data_offsets')
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ModelFormatError(name, f'tensor "{key}" has an invalid shape {json.dumps(shape)}')
            if not isinstance(off, list) or len(off) != 2 or not all(isinstance(d, int) for d in off) or not 0 <= off[0] <= off[1]:
                raise ModelFormatError(name, f'tensor "{key}" has invalid data_offsets {json.dumps(off)}')
            count = 1
            for d in shape:
                count *= d
            if off[1] - off[0] != count * BYTES[dtype]:
                raise ModelFormatError(name, f'tensor "{key}" ({dtype} {shape}) should take {count * BYTES[dtype]} bytes but its offsets span {off[1] - off[0]}')
            if start + off[1] > size:
                raise ModelFormatError(name, f'tensor "{key}" ends at byte {start + off[1]} but the file has only {size} bytes')
            self.tensors[key] = (dtype, shape, start + off[0], start + off[1])

    def get(self, key):
        """The tensor as stored (its own dtype and shape)."""
        dtype, shape, a, b = self.tensors[key]
        with open(self.path, 'rb') as f:
            f.seek(a)
            data = bytearray(f.read(b - a))
        if len(data) != b - a:
            raise ModelFormatError(str(self.path), f'tensor "{key}" could not be read in full')
        if not data:
            return torch.zeros(shape, dtype=DTYPES[dtype])
        return torch.frombuffer(data, dtype=DTYPES[dtype]).reshape(shape)

    def get_float(self, key):
        """A weight as float32 (F16 and BF16 widened exactly), as the lab reads weights."""
        dtype = self.tensors[key][0]
        if dtype not in ('F32', 'F16', 'BF16', 'F64'):
            raise ModelFormatError(str(self.path), f'tensor "{key}" is {dtype}, but weights must be stored as F32, F16 or BF16')
        return self.get(key).to(torch.float32)

    def get_ids(self, key):
        """Token ids (I32 or I64) as int64."""
        if key not in self.tensors:
            raise ModelFormatError(str(self.path), f'it holds no "{key}" tensor')
        dtype = self.tensors[key][0]
        if dtype not in ('I32', 'I64'):
            raise ModelFormatError(str(self.path), f'tensor "{key}" is {dtype}; token ids must be I32 or I64')
        return self.get(key).to(torch.int64)


def tensor_bytes(t):
    """The raw little-endian bytes of a tensor (no numpy)."""
    t = t.detach().to('cpu').contiguous()
    n = t.numel() * t.element_size()
    return ctypes.string_at(t.data_ptr(), n) if n else b''


def write_safetensors(path, tensors, metadata=None):
    """Writes [(name, tensor)] in order; the header is padded with spaces to a multiple of 8 bytes (as the lab writes)."""
    header = {}
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    blobs = []
    for name, t in tensors:
        if t.dtype not in NAMES:
            raise ValueError(f'write_safetensors: "{name}" has dtype {t.dtype}, which safetensors here does not write')
        data = tensor_bytes(t)
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
