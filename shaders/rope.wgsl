// Rotary position embedding, also the scatter of a chunk's K or V rows into the KV cache.
//   x: [B·T, heads·headDim] (a chunk of T positions per sequence at positions pos0 + t), written to y's rows
//   [B, yT, heads·headDim] at row dstPos0 + t (dstPos0 = pos0 for the KV cache, 0 for the chunk's queries).
//   The first rotDims dims of each head rotate (rotDims = 0 copies); planes p < rotDims/2 pair
//     STYLE 0, interleaved pairs: (2p, 2p+1)          — llama2.c, Meta's Llama
//     STYLE 1, rotate-half:       (p, p + rotDims/2)  — Hugging Face Llama, Qwen2, GPT-NeoX
//   by the angle of table row (pos0 + t): cosTable/sinTable are [positions, rotDims/2].
// inverse = 1 rotates by −angle: the transpose of the rotation, i.e. the backward pass of rotary (training).
// Entry point `masked` (latent-KV layers with partial RoPE): keep[head·rotDims/2 + p] = 0 copies pair p of that head
// unrotated; `main` rotates every pair.
// One thread per (row, head, pair-or-copied dim).

struct Params {
  B: u32,
  T: u32,
  heads: u32,
  headDim: u32,
  rotDims: u32,
  pos0: u32,
  yT: u32,
  dstPos0: u32,
  inverse: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> cosTable: array<f32>;
@group(0) @binding(2) var<storage, read> sinTable: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> keep: array<u32>;

override STYLE: u32 = 0u;

// Work items per head: rotDims/2 planes + (headDim − rotDims) copied dims.
fn itemsPerHead() -> u32 {
  return p.rotDims / 2u + (p.headDim - p.rotDims);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.B * p.T * p.heads * itemsPerHead()) { return; }
  rotateItem(i, true);
}

@compute @workgroup_size(64)
fn masked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.B * p.T * p.heads * itemsPerHead()) { return; }
  let half = p.rotDims / 2u;
  let it = i % itemsPerHead();
  let head = (i / itemsPerHead()) % p.heads;
  var on = false;
  if (it < half) { on = keep[head * half + it] != 0u; }
  rotateItem(i, on);
}

fn rotateItem(i: u32, rotate: bool) {
  let half = p.rotDims / 2u;
  let perHead = itemsPerHead();
  let item = i % perHead;
  let head = (i / perHead) % p.heads;
  let row = i / (perHead * p.heads);
  let b = row / p.T;
  let t = row % p.T;
  let width = p.heads * p.headDim;
  let src = row * width + head * p.headDim;
  let dst = (b * p.yT + p.dstPos0 + t) * width + head * p.headDim;
  if (item >= half) {
    let d = p.rotDims + (item - half);
    y[dst + d] = x[src + d];
    return;
  }
  var i0 = item;
  var i1 = item + half;
  if (STYLE == 0u) { i0 = 2u * item; i1 = 2u * item + 1u; }
  let a = x[src + i0];
  let bb = x[src + i1];
  if (!rotate) {
    y[dst + i0] = a;
    y[dst + i1] = bb;
    return;
  }
  let angle = (p.pos0 + t) * half + item;
  let c = cosTable[angle];
  var s = sinTable[angle];
  if (p.inverse != 0u) { s = -s; }
  y[dst + i0] = a * c - bb * s;
  y[dst + i1] = a * s + bb * c;
}
