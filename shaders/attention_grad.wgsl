// Causal attention with stored probabilities, and its backward pass, through the head maps — for the fusion stages' layer-
// local training (sequences from position 0, at most a few hundred positions). Layouts, b = sequence, t = position:
//   q:  [B, T, heads, dh]   rotated queries          k: [B, T, kHeads, dh] rotated keys     v: [B, T, vHeads, dh]
//   P, dS: [B, heads, T, T] (row = query position; entries above the diagonal or outside the window are 0)
//   a, dA: [B, T, heads, dh] context (P·V) and its gradient
//   maps: [2·heads] u32 — query head h reads K head maps[h] and V head maps[heads + h]
// Entries (one thread per output item, no workgroup memory, so CPU fallbacks run them well too):
//   probs:   P = softmax(scale · q kᵀ + causal/window mask)           thread per (b, h, tq)
//   context: a = P v                                                    thread per (b, t, h, d)
//   dscores: dS = scale · P ⊙ (dP − rowsum(P ⊙ dP)), dP = dA vᵀ       thread per (b, h, tq)
//   dkeys:   dK[k] = Σ_{h: map(h)=k} dSᵀ q_h                           thread per (b, tk, k, d)
//   dvalues: dV[v] = Σ_{h: map(h)=v} Pᵀ dA_h                           thread per (b, tk, v, d)
//   dqueries: dQ_h = dS_h k_{map(h)}, [B, T, heads, dh]                 thread per (b, tq, h, d)

struct Params {
  B: u32,
  T: u32,
  heads: u32,
  kHeads: u32,
  vHeads: u32,
  dh: u32,
  window: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> maps: array<u32>;
@group(0) @binding(4) var<storage, read_write> P: array<f32>;
@group(0) @binding(5) var<storage, read_write> a: array<f32>;
@group(0) @binding(6) var<storage, read> dA: array<f32>;
@group(0) @binding(7) var<storage, read_write> dS: array<f32>;
@group(0) @binding(8) var<storage, read_write> grad: array<f32>;
@group(0) @binding(9) var<uniform> p: Params;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 64u; }

/** First key a query at tq sees. */
fn firstKey(tq: u32) -> u32 {
  if (p.window > 0u && tq + 1u > p.window) { return tq + 1u - p.window; }
  return 0u;
}

@compute @workgroup_size(64)
fn probs(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.B * p.heads * p.T) { return; }
  let tq = i % p.T;
  let h = (i / p.T) % p.heads;
  let b = i / (p.T * p.heads);
  let kh = maps[h];
  let qb = ((b * p.T + tq) * p.heads + h) * p.dh;
  let row = i * p.T;
  let j0 = firstKey(tq);
  var m = -3.0e38;
  for (var j = j0; j <= tq; j++) {
    let kb = ((b * p.T + j) * p.kHeads + kh) * p.dh;
    var s = 0.0;
    for (var d = 0u; d < p.dh; d++) { s += q[qb + d] * k[kb + d]; }
    s *= p.scale;
    P[row + j] = s;
    m = max(m, s);
  }
  var sum = 0.0;
  for (var j = j0; j <= tq; j++) {
    let e = exp(P[row + j] - m);
    P[row + j] = e;
    sum += e;
  }
  for (var j = 0u; j < p.T; j++) {
    if (j < j0 || j > tq) { P[row + j] = 0.0; } else { P[row + j] = P[row + j] / sum; }
  }
}

@compute @workgroup_size(64)
fn context(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.B * p.T * p.heads * p.dh) { return; }
  let d = i % p.dh;
  let h = (i / p.dh) % p.heads;
  let t = (i / (p.dh * p.heads)) % p.T;
  let b = i / (p.dh * p.heads * p.T);
  let vh = maps[p.heads + h];
  let row = ((b * p.heads + h) * p.T + t) * p.T;
  var s = 0.0;
  for (var j = firstKey(t); j <= t; j++) { s += P[row + j] * v[((b * p.T + j) * p.vHeads + vh) * p.dh + d]; }
  a[i] = s;
}

@compute @workgroup_size(64)
fn dscores(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.B * p.heads * p.T) { return; }
  let tq = i % p.T;
  let h = (i / p.T) % p.heads;
  let b = i / (p.T * p.heads);
  let vh = maps[p.heads + h];
  let gb = ((b * p.T + tq) * p.heads + h) * p.dh;
  let row = i * p.T;
  let j0 = firstKey(tq);
  // dS_j = P_j (dP_j − Σ_i P_i dP_i): dP_j is kept in dS while the row sum accumulates.
  var dot = 0.0;
  for (var j = j0; j <= tq; j++) {
    let vb = ((b * p.T + j) * p.vHeads + vh) * p.dh;
    var s = 0.0;
    for (var d = 0u; d < p.dh; d++) { s += dA[gb + d] * v[vb + d]; }
    dS[row + j] = s;
    dot += P[row + j] * s;
  }
  for (var j = 0u; j < p.T; j++) {
    if (j < j0 || j > tq) { dS[row + j] = 0.0; } else { dS[row + j] = p.scale * P[row + j] * (dS[row + j] - dot); }
  }
}

@compute @workgroup_size(64)
fn dkeys(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.B * p.T * p.kHeads * p.dh) { return; }
  let d = i % p.dh;
  let kh = (i / p.dh) % p.kHeads;
  let tk = (i / (p.dh * p.kHeads)) % p.T;
  let b = i / (p.dh * p.kHeads * p.T);
  var s = 0.0;
  for (var h = 0u; h < p.heads; h++) {
    if (maps[h] != kh) { continue; }
    for (var tq = tk; tq < p.T; tq++) {
      s += dS[((b * p.heads + h) * p.T + tq) * p.T + tk] * q[((b * p.T + tq) * p.heads + h) * p.dh + d];
    }
  }
  grad[i] = s;
}

@compute @workgroup_size(64)
fn dvalues(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.B * p.T * p.vHeads * p.dh) { return; }
  let d = i % p.dh;
  let vh = (i / p.dh) % p.vHeads;
  let tk = (i / (p.dh * p.vHeads)) % p.T;
  let b = i / (p.dh * p.vHeads * p.T);
  var s = 0.0;
  for (var h = 0u; h < p.heads; h++) {
    if (maps[p.heads + h] != vh) { continue; }
    for (var tq = tk; tq < p.T; tq++) {
      s += P[((b * p.heads + h) * p.T + tq) * p.T + tk] * dA[((b * p.T + tq) * p.heads + h) * p.dh + d];
    }
  }
  grad[i] = s;
}

@compute @workgroup_size(64)
fn dqueries(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.B * p.T * p.heads * p.dh) { return; }
  let d = i % p.dh;
  let h = (i / p.dh) % p.heads;
  let tq = (i / (p.dh * p.heads)) % p.T;
  let b = i / (p.dh * p.heads * p.T);
  let kh = maps[h];
  let row = ((b * p.heads + h) * p.T + tq) * p.T;
  var s = 0.0;
  for (var j = firstKey(tq); j <= tq; j++) { s += dS[row + j] * k[((b * p.T + j) * p.kHeads + kh) * p.dh + d]; }
  grad[i] = s;
}
