// Token embedding: x[r, :] = E[ids[r], :] (+ P[pos0 + r mod T, :] for learned positions). One workgroup per row.
// E may hold only the vocabulary rows rowStart … rowStart+rowCount−1 (a table split across storage bindings): rows whose
// id falls outside are left for the dispatch of their own part.

struct Params {
  rows: u32,
  dim: u32,
  T: u32,
  pos0: u32,
  learned: u32,
  rowStart: u32,
  rowCount: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> E: array<f32>;
@group(0) @binding(2) var<storage, read> P: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let id = ids[r];
  if (id < p.rowStart || id >= p.rowStart + p.rowCount) { return; }
  let e = (id - p.rowStart) * p.dim;
  let pos = (p.pos0 + r % p.T) * p.dim;
  for (var c = li; c < p.dim; c += 64u) {
    var v = E[e + c];
    if (p.learned != 0u) { v += P[pos + c]; }
    x[r * p.dim + c] = v;
  }
}
