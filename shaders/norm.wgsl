// Row normalisation of x [rows, dim] into y, one workgroup per row:
//   KIND 0, RMSNorm:   y = x / √(mean(x²) + eps) · w
//   KIND 1, LayerNorm: y = (x − mean) / √(var + eps) · w + b      (biased variance, two passes for precision)

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override KIND: u32 = 0u;
const WG: u32 = 128u; // workgroupSum: shaders/lib/workgroup_reduce.wgsl, put in front by the runner

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.dim;
  let n = f32(p.dim);
  if (KIND == 0u) {
    var ss = 0.0;
    for (var c = li; c < p.dim; c += WG) { let v = x[base + c]; ss += v * v; }
    let inv = inverseSqrt(workgroupSum(ss, li) / n + p.eps);
    for (var c = li; c < p.dim; c += WG) { y[base + c] = x[base + c] * inv * w[c]; }
  } else {
    var s = 0.0;
    for (var c = li; c < p.dim; c += WG) { s += x[base + c]; }
    let mean = workgroupSum(s, li) / n;
    var ss = 0.0;
    for (var c = li; c < p.dim; c += WG) { let d = x[base + c] - mean; ss += d * d; }
    let inv = inverseSqrt(workgroupSum(ss, li) / n + p.eps);
    for (var c = li; c < p.dim; c += WG) { y[base + c] = (x[base + c] - mean) * inv * w[c] + b[c]; }
  }
}

// One thread per row, no barriers: for CPU fallbacks (SwiftShader), where barriers are costly.
@compute @workgroup_size(64)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= p.rows) { return; }
  let base = r * p.dim;
  let n = f32(p.dim);
  if (KIND == 0u) {
    var ss = 0.0;
    for (var c = 0u; c < p.dim; c++) { let v = x[base + c]; ss += v * v; }
    let inv = inverseSqrt(ss / n + p.eps);
    for (var c = 0u; c < p.dim; c++) { y[base + c] = x[base + c] * inv * w[c]; }
  } else {
    var s = 0.0;
    for (var c = 0u; c < p.dim; c++) { s += x[base + c]; }
    let mean = s / n;
    var ss = 0.0;
    for (var c = 0u; c < p.dim; c++) { let d = x[base + c] - mean; ss += d * d; }
    let inv = inverseSqrt(ss / n + p.eps);
    for (var c = 0u; c < p.dim; c++) { y[base + c] = (x[base + c] - mean) * inv * w[c] + b[c]; }
  }
}
