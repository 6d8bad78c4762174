// Column placement between two row-major tensors of the same rows: y[r, j] = x[r, map[j]] for every column j of y whose
// map[j] is not NONE (0xFFFFFFFF); the other columns of y are left as they are. A latent-KV layer assembles its full-width
// keys from the latent part and the rotary part with two calls, and splits a key gradient back into the parts with two more
// (src/model/latent.ts builds the maps). One thread per (row, column of y).

struct Params {
  rows: u32,
  xWidth: u32,
  yWidth: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> map: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.rows * p.yWidth) { return; }
  let j = i % p.yWidth;
  let src = map[j];
  if (src == 0xFFFFFFFFu) { return; }
  y[i] = x[(i / p.yWidth) * p.xWidth + src];
}
