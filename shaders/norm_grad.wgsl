// Backward of the row normalisation of shaders/norm.wgsl, y = norm(x) · w (+ b), for x [rows, dim]:
//   RMSNorm   (KIND 0): r = (mean(x²) + eps)^(−1/2), x̂ = x·r;           dx = r·(g − x̂·mean(g ⊙ x̂)),           g = dy ⊙ w
//   LayerNorm (KIND 1): r = (var(x) + eps)^(−1/2), x̂ = (x − mean)·r;   dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂))
// Entries:
//   main  — one workgroup per row: dx (+)= … and the row's statistics stats[2r] = mean (0 for RMSNorm), stats[2r+1] = r
//   rows  — the same with one thread per row and no barriers (CPU fallbacks)
//   gain  — one thread per column: dw[c] += Σ_r dy[r, c] · x̂[r, c], from the statistics (deterministic: no atomics)
// The bias of a LayerNorm gets Σ_r dy[r, c]: the column sum of shaders/reduce.wgsl.

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
  /** 1: dx += …, 0: dx = … */
  accumulate: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

override KIND: u32 = 0u;
const WG: u32 = 128u; // workgroupSum: shaders/lib/workgroup_reduce.wgsl, put in front by the runner

fn put(i: u32, v: f32) {
  if (p.accumulate != 0u) { dx[i] += v; } else { dx[i] = v; }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.dim;
  let n = f32(p.dim);
  var mean = 0.0;
  if (KIND == 1u) {
    var s = 0.0;
    for (var c = li; c < p.dim; c += WG) { s += x[base + c]; }
    mean = workgroupSum(s, li) / n;
  }
  var ss = 0.0;
  for (var c = li; c < p.dim; c += WG) { let d = x[base + c] - mean; ss += d * d; }
  let rs = inverseSqrt(workgroupSum(ss, li) / n + p.eps);
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = li; c < p.dim; c += WG) {
    let g = dy[base + c] * w[c];
    sg += g;
    sgx += g * (x[base + c] - mean) * rs;
  }
  var meanG = 0.0;
  if (KIND == 1u) { meanG = workgroupSum(sg, li) / n; }
  let meanGx = workgroupSum(sgx, li) / n;
  for (var c = li; c < p.dim; c += WG) {
    let xh = (x[base + c] - mean) * rs;
    put(base + c, rs * (dy[base + c] * w[c] - meanG - xh * meanGx));
  }
  if (li == 0u) { stats[2u * r] = mean; stats[2u * r + 1u] = rs; }
}

@compute @workgroup_size(64)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= p.rows) { return; }
  let base = r * p.dim;
  let n = f32(p.dim);
  var mean = 0.0;
  if (KIND == 1u) {
    var s = 0.0;
    for (var c = 0u; c < p.dim; c++) { s += x[base + c]; }
    mean = s / n;
  }
  var ss = 0.0;
  for (var c = 0u; c < p.dim; c++) { let d = x[base + c] - mean; ss += d * d; }
  let rs = inverseSqrt(ss / n + p.eps);
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < p.dim; c++) {
    let g = dy[base + c] * w[c];
    sg += g;
    sgx += g * (x[base + c] - mean) * rs;
  }
  var meanG = 0.0;
  if (KIND == 1u) { meanG = sg / n; }
  let meanGx = sgx / n;
  for (var c = 0u; c < p.dim; c++) {
    let xh = (x[base + c] - mean) * rs;
    put(base + c, rs * (dy[base + c] * w[c] - meanG - xh * meanGx));
  }
  stats[2u * r] = mean;
  stats[2u * r + 1u] = rs;
}

@compute @workgroup_size(64)
fn gain(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.dim) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    s += dy[r * p.dim + c] * (x[r * p.dim + c] - stats[2u * r]) * stats[2u * r + 1u];
  }
  dw[c] += s;
}
