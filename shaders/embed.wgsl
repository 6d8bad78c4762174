// Token embedding: x[r, :] = E[ids[r], :] (+ P[pos0 + r mod T, :] for learned positions). One workgroup per row.
// E may hold only the vocabulary rows rowStart … rowStart+rowCount−1 (a table split across storage bindings): rows whose
// id falls outside are left for the dispatch of their own part.
// Backward (training), without float atomics — the rows of each token are listed on the host first:
//   tokenGrad:    dE[u_k, :] += Σ_{r ∈ rows of u_k} dx[r, :] for the k-th distinct token id u_k; thread per (k, column).
//                 csr = [u_0 … u_{U−1}, start_0 … start_U, row list (R)]: token u_k's rows are list[start_k … start_{k+1}−1].
//   positionGrad: dP[pos0 + t, :] += Σ_b dx[b·T + t, :]; thread per (t, column).

struct Params {
  rows: u32,
  dim: u32,
  T: u32,
  pos0: u32,
  learned: u32,
  rowStart: u32,
  rowCount: u32,
  distinct: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> E: array<f32>;
@group(0) @binding(2) var<storage, read> P: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> dx: array<f32>;
@group(0) @binding(6) var<storage, read> csr: array<u32>;
@group(0) @binding(7) var<storage, read_write> dE: array<f32>;

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

@compute @workgroup_size(64)
fn tokenGrad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.distinct * p.dim) { return; }
  let k = i / p.dim;
  let c = i % p.dim;
  let U = p.distinct;
  var s = 0.0;
  for (var j = csr[U + k]; j < csr[U + k + 1u]; j++) { s += dx[csr[2u * U + 1u + j] * p.dim + c]; }
  dE[csr[k] * p.dim + c] += s;
}

@compute @workgroup_size(64)
fn positionGrad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.T * p.dim) { return; }
  let t = i / p.dim;
  let c = i % p.dim;
  let B = p.rows / p.T;
  var s = 0.0;
  for (var b = 0u; b < B; b++) { s += dx[(b * p.T + t) * p.dim + c]; }
  dE[(p.pos0 + t) * p.dim + c] += s;
}
