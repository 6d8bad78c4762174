// Row softmax of a [rows, cols] matrix: y = exp(scale·x − max) / Σ exp(scale·x − max), computed in place-safe form
// (x and y may be different buffers only). One workgroup per row.

struct Params {
  rows: u32,
  cols: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u; // workgroupMax / workgroupSum: shaders/lib/workgroup_reduce.wgsl, put in front by the runner

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;

  var m = -3.4028234663852886e38;
  for (var c = li; c < p.cols; c += WG) { m = max(m, p.scale * x[base + c]); }
  let rowMax = workgroupMax(m, li);

  var sum = 0.0;
  for (var c = li; c < p.cols; c += WG) { sum += exp(p.scale * x[base + c] - rowMax); }
  let inv = 1.0 / workgroupSum(sum, li);
  for (var c = li; c < p.cols; c += WG) { y[base + c] = exp(p.scale * x[base + c] - rowMax) * inv; }
}
