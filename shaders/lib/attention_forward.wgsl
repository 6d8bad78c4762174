// What the forward attention shaders share (attention.wgsl, attention_flash.wgsl; the runner in src/gpu/kernels/transformer.ts
// puts this in front of both and packs Params once): the chunk's sizes and where a query's keys start. Either shader binds
// the uniform p and the head maps; kc and vc hold [B, cacheT, kHeads·headDim] and [B, cacheT, vHeads·headDim].

struct Params {
  B: u32,
  T: u32,
  pos0: u32,
  heads: u32,
  kHeads: u32,
  vHeads: u32,
  headDim: u32,
  cacheT: u32,
  window: u32,
  scale: f32,
}

// The first key position the query at position i attends: 0, or i + 1 − window in GPT-Neo's local layers (window > 0).
fn firstKey(i: u32) -> u32 {
  if (p.window > 0u && i + 1u > p.window) { return i + 1u - p.window; }
  return 0u;
}

// Where query head h of sequence b finds its K head (x) and its V head (y) at cache position 0, in values.
fn cacheBases(b: u32, h: u32) -> vec2u {
  let dh = p.headDim;
  return vec2u(b * p.cacheT * p.kHeads * dh + maps[h] * dh, b * p.cacheT * p.vHeads * dh + maps[p.heads + h] * dh);
}
