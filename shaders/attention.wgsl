// Causal attention through the head maps, for a chunk of T query positions per sequence against the KV cache.
//   q:  [B·T, heads·headDim]   (rotated)
//   kc: [B, cacheT, kHeads·headDim], vc: [B, cacheT, vHeads·headDim]: positions 0 … pos0+T−1 are filled
//   maps: [2·heads] u32 — query head h reads K head maps[h] and V head maps[heads + h] (MHA, GQA and DHA alike)
//   out: [B·T, heads·headDim]
// Query at position i = pos0 + t attends keys j ≤ i, and only j > i − window when window > 0 (GPT-Neo's local layers).
// Entry `main`: one workgroup per (t, h, b); keys in blocks of 64 with an online softmax (running max and sum), so any length
// works with fixed workgroup memory. Each thread owns output dims tid, tid+64, tid+128, tid+192 (headDim ≤ 256).
// Entry `rows` (below): one thread per (t, h, b), for CPU fallbacks; `rows16` the same for head dims 4, 8, 12 and 16 with every
// per-thread value in vec4 registers (CPU fallbacks keep a private array such as `rows`' accumulator in memory: 5–10× slower).

// Params, firstKey, cacheBases: shaders/lib/attention_forward.wgsl, put in front by the runner.

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kc: array<f32>;
@group(0) @binding(2) var<storage, read> vc: array<f32>;
@group(0) @binding(3) var<storage, read> maps: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const BLOCK: u32 = 64u;
var<workgroup> qs: array<f32, 256>;
var<workgroup> e: array<f32, BLOCK>;
var<workgroup> sc: array<f32, BLOCK>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let t = wg.x;
  let h = wg.y;
  let b = wg.z;
  let dh = p.headDim;
  let qRow = (b * p.T + t) * p.heads * dh + h * dh;
  for (var d = tid; d < dh; d += BLOCK) { qs[d] = q[qRow + d]; }
  workgroupBarrier();

  let i = p.pos0 + t;
  let lo = firstKey(i);
  let kStride = p.kHeads * dh;
  let vStride = p.vHeads * dh;
  let bases = cacheBases(b, h);
  let kBase = bases.x;
  let vBase = bases.y;

  var m = -3.4e38;
  var l = 0.0;
  var acc = vec4f(0.0);
  for (var j0 = lo; j0 <= i; j0 += BLOCK) {
    let j = j0 + tid;
    var s = -3.4e38;
    if (j <= i) {
      var dot = 0.0;
      let kRow = kBase + j * kStride;
      for (var d = 0u; d < dh; d++) { dot = fma(qs[d], kc[kRow + d], dot); }
      s = p.scale * dot;
    }
    sc[tid] = s;
    workgroupBarrier();
    var bm = -3.4e38;
    let n = min(BLOCK, i + 1u - j0);
    for (var k = 0u; k < n; k++) { bm = max(bm, sc[k]); }
    let mNew = max(m, bm);
    let alpha = exp(m - mNew);
    var ej = 0.0;
    if (j <= i) { ej = exp(s - mNew); }
    e[tid] = ej;
    workgroupBarrier();
    var bl = 0.0;
    var blockAcc = vec4f(0.0);
    for (var k = 0u; k < n; k++) {
      let w = e[k];
      bl += w;
      let vRow = vBase + (j0 + k) * vStride;
      if (tid < dh) { blockAcc.x = fma(w, vc[vRow + tid], blockAcc.x); }
      if (tid + 64u < dh) { blockAcc.y = fma(w, vc[vRow + tid + 64u], blockAcc.y); }
      if (tid + 128u < dh) { blockAcc.z = fma(w, vc[vRow + tid + 128u], blockAcc.z); }
      if (tid + 192u < dh) { blockAcc.w = fma(w, vc[vRow + tid + 192u], blockAcc.w); }
    }
    acc = acc * alpha + blockAcc;
    l = l * alpha + bl;
    m = mNew;
    workgroupBarrier();
  }
  let oRow = (b * p.T + t) * p.heads * dh + h * dh;
  let inv = 1.0 / l;
  if (tid < dh) { out[oRow + tid] = acc.x * inv; }
  if (tid + 64u < dh) { out[oRow + tid + 64u] = acc.y * inv; }
  if (tid + 128u < dh) { out[oRow + tid + 128u] = acc.z * inv; }
  if (tid + 192u < dh) { out[oRow + tid + 192u] = acc.w * inv; }
}

// One thread per (query position, head, sequence), the whole key range in one loop with an online softmax and the output
// accumulated in private memory: no barriers. CPU fallbacks (SwiftShader), where barriers are costly, run this one.
@compute @workgroup_size(64)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * 64u;
  let T = p.T;
  if (n >= T * p.heads * p.B) { return; }
  let t = n % T;
  let h = (n / T) % p.heads;
  let b = n / (T * p.heads);
  let dh = p.headDim;
  let qRow = (b * T + t) * p.heads * dh + h * dh;
  let i = p.pos0 + t;
  let lo = firstKey(i);
  let kStride = p.kHeads * dh;
  let vStride = p.vHeads * dh;
  let bases = cacheBases(b, h);
  let kBase = bases.x;
  let vBase = bases.y;
  var acc: array<f32, 256>;
  for (var d = 0u; d < dh; d++) { acc[d] = 0.0; }
  var m = -3.4e38;
  var l = 0.0;
  for (var j = lo; j <= i; j++) {
    let kRow = kBase + j * kStride;
    var dot = 0.0;
    for (var d = 0u; d < dh; d++) { dot = fma(q[qRow + d], kc[kRow + d], dot); }
    let s = p.scale * dot;
    let mNew = max(m, s);
    let alpha = exp(m - mNew);
    let w = exp(s - mNew);
    l = l * alpha + w;
    let vRow = vBase + j * vStride;
    for (var d = 0u; d < dh; d++) { acc[d] = fma(w, vc[vRow + d], acc[d] * alpha); }
    m = mNew;
  }
  let inv = 1.0 / l;
  for (var d = 0u; d < dh; d++) { out[qRow + d] = acc[d] * inv; }
}

fn kv4(which: u32, i: u32) -> vec4f {
  if (which == 0u) { return vec4f(kc[i], kc[i + 1u], kc[i + 2u], kc[i + 3u]); }
  return vec4f(vc[i], vc[i + 1u], vc[i + 2u], vc[i + 3u]);
}

@compute @workgroup_size(64)
fn rows16(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * 64u;
  let T = p.T;
  if (n >= T * p.heads * p.B) { return; }
  let t = n % T;
  let h = (n / T) % p.heads;
  let b = n / (T * p.heads);
  let dh = p.headDim;
  let n4 = dh / 4u;
  let qRow = (b * T + t) * p.heads * dh + h * dh;
  let i = p.pos0 + t;
  let lo = firstKey(i);
  let kStride = p.kHeads * dh;
  let vStride = p.vHeads * dh;
  let bases = cacheBases(b, h);
  let kBase = bases.x;
  let vBase = bases.y;
  let q0 = vec4f(q[qRow], q[qRow + 1u], q[qRow + 2u], q[qRow + 3u]);
  var q1 = vec4f(0.0);
  var q2 = vec4f(0.0);
  var q3 = vec4f(0.0);
  if (n4 > 1u) { q1 = vec4f(q[qRow + 4u], q[qRow + 5u], q[qRow + 6u], q[qRow + 7u]); }
  if (n4 > 2u) { q2 = vec4f(q[qRow + 8u], q[qRow + 9u], q[qRow + 10u], q[qRow + 11u]); }
  if (n4 > 3u) { q3 = vec4f(q[qRow + 12u], q[qRow + 13u], q[qRow + 14u], q[qRow + 15u]); }
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var m = -3.4e38;
  var l = 0.0;
  for (var j = lo; j <= i; j++) {
    let kr = kBase + j * kStride;
    var d = dot(q0, kv4(0u, kr));
    if (n4 > 1u) { d += dot(q1, kv4(0u, kr + 4u)); }
    if (n4 > 2u) { d += dot(q2, kv4(0u, kr + 8u)); }
    if (n4 > 3u) { d += dot(q3, kv4(0u, kr + 12u)); }
    let s = p.scale * d;
    let mNew = max(m, s);
    let alpha = exp(m - mNew);
    let w = exp(s - mNew);
    l = l * alpha + w;
    let vr = vBase + j * vStride;
    a0 = a0 * alpha + w * kv4(1u, vr);
    if (n4 > 1u) { a1 = a1 * alpha + w * kv4(1u, vr + 4u); }
    if (n4 > 2u) { a2 = a2 * alpha + w * kv4(1u, vr + 8u); }
    if (n4 > 3u) { a3 = a3 * alpha + w * kv4(1u, vr + 12u); }
    m = mNew;
  }
  let inv = 1.0 / l;
  for (var c = 0u; c < 4u; c++) { out[qRow + c] = a0[c] * inv; }
  if (n4 > 1u) { for (var c = 0u; c < 4u; c++) { out[qRow + 4u + c] = a1[c] * inv; } }
  if (n4 > 2u) { for (var c = 0u; c < 4u; c++) { out[qRow + 8u + c] = a2[c] * inv; } }
  if (n4 > 3u) { for (var c = 0u; c < 4u; c++) { out[qRow + 12u + c] = a3[c] * inv; } }
}
