// Linear head fusion operators (DHA, our reconstruction: ALGORITHMS.md §3.3) and their gradients.
//   x: [R, nIn, dh] (R rows of heads), w: [nOut, nIn] the operator, y: [R, nOut, dh]
//   mixHeads: y[r, o, :] = Σ_i w[o, i] x[r, i, :]                   thread per (r, o, d)
//   mixGrad: g[o, i] = Σ_{r, d} dy[r, o, d] x[r, i, d]              workgroup per (o, i), tree sum over 64 threads
//   fusionPull: adds the augmented-Lagrangian pull of the fusion loss to g, masked to each group's entries:
//            g[o, i] = mask[o, i] · (g[o, i] + coef · (4/n²)(n w[o, i] − Σ_{o' ∈ group(o)} w[o', i]))
//            (the gradient of (1/n²) Σ_{o,o'∈group} ‖w_o − w_o'‖²; groupOf[o] names o's group)

struct Params {
  R: u32,
  nIn: u32,
  nOut: u32,
  dh: u32,
  coef: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> g: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<f32>;
@group(0) @binding(6) var<storage, read> groupOf: array<u32>;
@group(0) @binding(7) var<uniform> p: Params;

@compute @workgroup_size(64)
fn mixHeads(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.R * p.nOut * p.dh) { return; }
  let d = i % p.dh;
  let o = (i / p.dh) % p.nOut;
  let r = i / (p.dh * p.nOut);
  var s = 0.0;
  for (var j = 0u; j < p.nIn; j++) {
    let c = w[o * p.nIn + j];
    if (c != 0.0) { s += c * x[(r * p.nIn + j) * p.dh + d]; }
  }
  y[i] = s;
}

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn mixGrad(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let o = wg.x;
  let j = wg.y;
  var s = 0.0;
  let items = p.R * p.dh;
  for (var e = tid; e < items; e += 64u) {
    let r = e / p.dh;
    let d = e % p.dh;
    s += dy[(r * p.nOut + o) * p.dh + d] * x[(r * p.nIn + j) * p.dh + d];
  }
  part[tid] = s;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride >>= 1u) {
    if (tid < stride) { part[tid] += part[tid + stride]; }
    workgroupBarrier();
  }
  if (tid == 0u) { g[o * p.nIn + j] = part[0]; }
}

@compute @workgroup_size(64)
fn fusionPull(@builtin(global_invocation_id) gid: vec3u) {
  let e = gid.x;
  if (e >= p.nOut * p.nIn) { return; }
  let o = e / p.nIn;
  let j = e % p.nIn;
  var n = 0.0;
  var colSum = 0.0;
  for (var o2 = 0u; o2 < p.nOut; o2++) {
    if (groupOf[o2] == groupOf[o]) { n += 1.0; colSum += w[o2 * p.nIn + j]; }
  }
  let pull = p.coef * (4.0 / (n * n)) * (n * w[e] - colSum);
  g[e] = mask[e] * (g[e] + pull);
}
