// The backward pass of causal attention through the head maps without the T × T probabilities (flash-style), for training
// on GPUs. Layouts as attention_grad.wgsl (b = sequence, t = position): q, dA, a: [B, T, heads, dh]; k: [B, T, kHeads, dh];
// v: [B, T, vHeads, dh]; maps: [2·heads] (query head h reads K head maps[h] and V head maps[heads + h]).
// With s_ij = scale · q_i·k_j, P_ij = exp(s_ij − L_i), dP_ij = dA_i·v_j and D_i = Σ_j P_ij dP_ij = dA_i·a_i:
//   dS_ij = scale · P_ij (dP_ij − D_i),  dQ_i = Σ_j dS_ij k_j,  dK_j = Σ_i dS_ij q_i,  dV_j = Σ_i P_ij dA_i.
// Entries:
//   stats:  L_i (log-sum-exp of the row's scores) and D_i, one thread per (b, h, i)                 → lse [B, heads, T] vec2
//   keyval: per query head, dK_j and dV_j for a block of 64 keys (one per thread), query rows staged in
//           workgroup memory in tiles of BT, P recomputed                                          → dKh, dVh [B, T, heads, dh]
//   query:  dQ_i for a block of 64 queries (one per thread), key rows staged in tiles of BT          → dq [B, T, heads, dh]
//   gather: dK (or dV) of each K (V) head = Σ of the partials of the query heads that read it       → out [B, T, n, dh]
// No float atomics: every sum is one thread's loop, so gradients are deterministic. Needs dh % 4 == 0; DH4 and BT are
// rewritten by the runner per head dim (registers hold vec4 × DH4 rows; a tile of BT rows of two operands ≤ 15 KiB).

struct Params {
  B: u32,
  T: u32,
  heads: u32,
  kHeads: u32,
  vHeads: u32,
  dh: u32,
  window: u32,
  scale: f32,
  which: u32, // gather: 0 sums through the K map, 1 through the V map
  n: u32, // gather: heads of the output (kHeads or vHeads)
}

@group(0) @binding(0) var<storage, read> q: array<vec4f>;
@group(0) @binding(1) var<storage, read> k: array<vec4f>;
@group(0) @binding(2) var<storage, read> v: array<vec4f>;
@group(0) @binding(3) var<storage, read> dA: array<vec4f>;
@group(0) @binding(4) var<storage, read> a: array<vec4f>;
@group(0) @binding(5) var<storage, read> maps: array<u32>;
@group(0) @binding(6) var<storage, read_write> lse: array<vec2f>;
@group(0) @binding(7) var<storage, read_write> dKh: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> dVh: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> dq: array<vec4f>;
@group(0) @binding(10) var<storage, read> part: array<vec4f>;
@group(0) @binding(11) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(12) var<uniform> p: Params;

const DH4: u32 = 4u; // head dim / 4 (rewritten by the runner)
const BT: u32 = 64u; // rows per staged tile (rewritten by the runner: min(64, 480 / DH4))
const NEG: f32 = -3.4e38;

var<workgroup> t0: array<vec4f, BT * DH4>;
var<workgroup> t1: array<vec4f, BT * DH4>;
var<workgroup> ts: array<vec2f, BT>;

fn firstKey(i: u32) -> u32 {
  if (p.window > 0u && i + 1u > p.window) { return i + 1u - p.window; }
  return 0u;
}

/** Whether query i sees key j. */
fn sees(i: u32, j: u32) -> bool {
  return j <= i && j >= firstKey(i);
}

fn row(b: u32, t: u32, n: u32, h: u32) -> u32 { return ((b * p.T + t) * n + h) * DH4; }

@compute @workgroup_size(64)
fn stats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.B * p.heads * p.T) { return; }
  let i = idx % p.T;
  let h = (idx / p.T) % p.heads;
  let b = idx / (p.T * p.heads);
  let qi = row(b, i, p.heads, h);
  let kh = maps[h];
  var m = NEG;
  var l = 0.0;
  for (var j = firstKey(i); j <= i; j++) {
    let kj = row(b, j, p.kHeads, kh);
    var s = 0.0;
    for (var d = 0u; d < DH4; d++) { s += dot(q[qi + d], k[kj + d]); }
    s *= p.scale;
    let mNew = max(m, s);
    l = l * exp(m - mNew) + exp(s - mNew);
    m = mNew;
  }
  var D = 0.0;
  for (var d = 0u; d < DH4; d++) { D += dot(dA[qi + d], a[qi + d]); }
  lse[(b * p.heads + h) * p.T + i] = vec2f(m + log(l), D);
}

@compute @workgroup_size(64)
fn keyval(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let h = wg.y;
  let b = wg.z;
  let j0 = wg.x * 64u;
  let j = j0 + tid;
  let live = j < p.T;
  let jc = min(j, p.T - 1u);
  let kj = row(b, jc, p.kHeads, maps[h]);
  let vj = row(b, jc, p.vHeads, maps[p.heads + h]);
  var kr: array<vec4f, DH4>;
  var vr: array<vec4f, DH4>;
  var dk: array<vec4f, DH4>;
  var dv: array<vec4f, DH4>;
  for (var d = 0u; d < DH4; d++) {
    kr[d] = k[kj + d] * p.scale;
    vr[d] = v[vj + d];
    dk[d] = vec4f(0.0);
    dv[d] = vec4f(0.0);
  }
  // Queries that see some key of the block: from its first key to the last one the window lets see its last key.
  let jLast = min(j0 + 63u, p.T - 1u);
  var iHi = p.T - 1u;
  if (p.window > 0u) { iHi = min(iHi, jLast + p.window - 1u); }
  for (var i0 = j0; i0 <= iHi; i0 += BT) {
    workgroupBarrier();
    for (var x = tid; x < BT * DH4; x += 64u) {
      let i = i0 + x / DH4;
      var qx = vec4f(0.0);
      var dx = vec4f(0.0);
      if (i <= iHi) {
        let qi = row(b, i, p.heads, h) + x % DH4;
        qx = q[qi];
        dx = dA[qi];
      }
      t0[x] = qx;
      t1[x] = dx;
    }
    for (var r = tid; r < BT; r += 64u) {
      var st = vec2f(0.0);
      if (i0 + r <= iHi) { st = lse[(b * p.heads + h) * p.T + i0 + r]; }
      ts[r] = st;
    }
    workgroupBarrier();
    if (live) {
      for (var r = 0u; r < BT; r++) {
        let i = i0 + r;
        if (i > iHi || !sees(i, j)) { continue; }
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < DH4; d++) {
          s += dot(t0[r * DH4 + d], kr[d]);
          dp += dot(t1[r * DH4 + d], vr[d]);
        }
        let P = exp(s - ts[r].x);
        let dS = p.scale * P * (dp - ts[r].y);
        for (var d = 0u; d < DH4; d++) {
          dv[d] = fma(vec4f(P), t1[r * DH4 + d], dv[d]);
          dk[d] = fma(vec4f(dS), t0[r * DH4 + d], dk[d]);
        }
      }
    }
  }
  if (live) {
    let o = row(b, j, p.heads, h);
    for (var d = 0u; d < DH4; d++) {
      dKh[o + d] = dk[d];
      dVh[o + d] = dv[d];
    }
  }
}

@compute @workgroup_size(64)
fn query(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let h = wg.y;
  let b = wg.z;
  let i0 = wg.x * 64u;
  let i = i0 + tid;
  let live = i < p.T;
  let ic = min(i, p.T - 1u);
  let qi = row(b, ic, p.heads, h);
  let kh = maps[h];
  let vh = maps[p.heads + h];
  var qr: array<vec4f, DH4>;
  var dar: array<vec4f, DH4>;
  var g: array<vec4f, DH4>;
  for (var d = 0u; d < DH4; d++) {
    qr[d] = q[qi + d] * p.scale;
    dar[d] = dA[qi + d];
    g[d] = vec4f(0.0);
  }
  let st = lse[(b * p.heads + h) * p.T + ic];
  let lo = firstKey(ic);
  let blockLo = firstKey(i0);
  let blockHi = min(i0 + 63u, p.T - 1u);
  for (var j0 = blockLo; j0 <= blockHi; j0 += BT) {
    workgroupBarrier();
    for (var x = tid; x < BT * DH4; x += 64u) {
      let j = j0 + x / DH4;
      var kx = vec4f(0.0);
      var vx = vec4f(0.0);
      if (j <= blockHi) {
        kx = k[row(b, j, p.kHeads, kh) + x % DH4];
        vx = v[row(b, j, p.vHeads, vh) + x % DH4];
      }
      t0[x] = kx;
      t1[x] = vx;
    }
    workgroupBarrier();
    if (live && j0 <= i && j0 + BT > lo) {
      for (var r = 0u; r < BT; r++) {
        let j = j0 + r;
        if (j < lo || j > i) { continue; }
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < DH4; d++) {
          s += dot(qr[d], t0[r * DH4 + d]);
          dp += dot(dar[d], t1[r * DH4 + d]);
        }
        let dS = p.scale * exp(s - st.x) * (dp - st.y);
        for (var d = 0u; d < DH4; d++) { g[d] = fma(vec4f(dS), t0[r * DH4 + d], g[d]); }
      }
    }
  }
  if (live) {
    for (var d = 0u; d < DH4; d++) { dq[qi + d] = g[d]; }
  }
}

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.B * p.T * p.n * DH4) { return; }
  let d = idx % DH4;
  let c = (idx / DH4) % p.n;
  let bt = idx / (DH4 * p.n);
  var acc = vec4f(0.0);
  for (var h = 0u; h < p.heads; h++) {
    if (maps[p.which * p.heads + h] == c) { acc += part[(bt * p.heads + h) * DH4 + d]; }
  }
  out[idx] = acc;
}
