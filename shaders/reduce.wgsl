// Row reductions of a [rows, cols] matrix into [rows]: OP 0 = sum, 1 = max. One workgroup per row; rows beyond the
// per-dimension dispatch limit wrap onto a second grid axis.
// Entry `rows`: the same with one thread per row and no barriers, for CPU fallbacks (SwiftShader), where barriers are costly.
// Entry `colsum`: y[c] += Σ_r x[r, c] (bias gradients), one thread per column.

struct Params {
  rows: u32,
  cols: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override OP: u32 = 0u;
const WG: u32 = 256u; // workgroupSum / workgroupMax: shaders/lib/workgroup_reduce.wgsl, put in front by the runner

fn combine(a: f32, b: f32) -> f32 {
  if (OP == 1u) { return max(a, b); }
  return a + b;
}

fn identity() -> f32 {
  if (OP == 1u) { return -3.4028234663852886e38; }
  return 0.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; } // uniform across the workgroup, so barriers below stay uniform
  let base = row * p.cols;
  var v = identity();
  for (var c = li; c < p.cols; c += WG) { v = combine(v, x[base + c]); }
  var total: f32;
  if (OP == 1u) { total = workgroupMax(v, li); } else { total = workgroupSum(v, li); }
  if (li == 0u) { y[row] = total; }
}

@compute @workgroup_size(64)
fn colsum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x + gid.y * nwg.x * 64u;
  if (c >= p.cols) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) { s += x[r * p.cols + c]; }
  y[c] += s;
}

@compute @workgroup_size(64)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var v = identity();
  for (var c = 0u; c < p.cols; c++) { v = combine(v, x[base + c]); }
  y[row] = v;
}
