// Flash-style causal attention through the head maps (the layouts of attention.wgsl), for prefill and evaluation chunks on
// GPUs: a workgroup takes a block of BQ = 64 query positions of one (head, sequence), one query per thread, and walks
// the keys in tiles of BK positions staged in workgroup memory, so every K/V row is read from global memory once per block
// of 64 queries instead of once per query. Each thread keeps its query and output rows in registers (vec4 × DH4, sized by
// the runner, which rewrites the two constants below per head dim) and an online softmax per tile: the tile's scores first,
// then one rescale of the running sum and output, then the weighted values. Tiles past the block's last query (causal) or
// before its first query's window are never visited; a thread skips tiles wholly outside its own range.
// Needs headDim % 4 == 0 (vec4 rows). Workgroup memory: 2 · BK · DH4 vec4 = 16 KiB at BK · DH4 = 512.

// Params, firstKey, cacheBases: shaders/lib/attention_forward.wgsl, put in front by the runner.

@group(0) @binding(0) var<storage, read> q: array<vec4f>;
@group(0) @binding(1) var<storage, read> kc: array<vec4f>;
@group(0) @binding(2) var<storage, read> vc: array<vec4f>;
@group(0) @binding(3) var<storage, read> maps: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(5) var<uniform> p: Params;

const DH4: u32 = 16u; // head dim / 4 (rewritten by the runner)
const BK: u32 = 32u; // keys per tile (rewritten by the runner: min(64, 512 / DH4))
const BQ: u32 = 64u;
const NEG: f32 = -3.4e38;

var<workgroup> kt: array<vec4f, BK * DH4>;
var<workgroup> vt: array<vec4f, BK * DH4>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let h = wg.y;
  let b = wg.z;
  let t0 = wg.x * BQ;
  let t = t0 + tid;
  let live = t < p.T;
  let i = p.pos0 + min(t, p.T - 1u);
  let lo = firstKey(i);
  let blockLo = firstKey(p.pos0 + t0);
  let blockHi = p.pos0 + min(t0 + BQ, p.T) - 1u;

  let row4 = ((b * p.T + min(t, p.T - 1u)) * p.heads + h) * DH4;
  var qr: array<vec4f, DH4>;
  var o: array<vec4f, DH4>;
  for (var d = 0u; d < DH4; d++) {
    qr[d] = q[row4 + d] * p.scale;
    o[d] = vec4f(0.0);
  }
  let kStride = p.kHeads * DH4;
  let vStride = p.vHeads * DH4;
  let bases = cacheBases(b, h) / 4u; // in vec4s: headDim = 4 · DH4
  let kBase = bases.x;
  let vBase = bases.y;

  var m = NEG;
  var l = 0.0;
  var s: array<f32, BK>;
  for (var j0 = blockLo; j0 <= blockHi; j0 += BK) {
    workgroupBarrier();
    for (var x = tid; x < BK * DH4; x += BQ) {
      let j = j0 + x / DH4;
      let c = x % DH4;
      var kx = vec4f(0.0);
      var vx = vec4f(0.0);
      if (j <= blockHi) {
        kx = kc[kBase + j * kStride + c];
        vx = vc[vBase + j * vStride + c];
      }
      kt[x] = kx;
      vt[x] = vx;
    }
    workgroupBarrier();
    if (live && j0 <= i && j0 + BK > lo) {
      var tileMax = NEG;
      for (var r = 0u; r < BK; r++) {
        let j = j0 + r;
        var sc = NEG;
        if (j >= lo && j <= i) {
          var acc = 0.0;
          for (var d = 0u; d < DH4; d++) { acc += dot(qr[d], kt[r * DH4 + d]); }
          sc = acc;
        }
        s[r] = sc;
        tileMax = max(tileMax, sc);
      }
      let mNew = max(m, tileMax);
      let alpha = exp(m - mNew);
      l *= alpha;
      for (var d = 0u; d < DH4; d++) { o[d] *= alpha; }
      for (var r = 0u; r < BK; r++) {
        let j = j0 + r;
        if (j >= lo && j <= i) {
          let w = exp(s[r] - mNew);
          l += w;
          for (var d = 0u; d < DH4; d++) { o[d] = fma(vec4f(w), vt[r * DH4 + d], o[d]); }
        }
      }
      m = mNew;
    }
  }
  if (live) {
    let inv = 1.0 / l;
    for (var d = 0u; d < DH4; d++) { out[row4 + d] = o[d] * inv; }
  }
}
