// Per row of logits [rows, vocab]: the negative log-likelihood of the target token, logsumexp(row) − row[target], and the
// row's argmax (greedy decoding). A target of 0xFFFFFFFF is not scored (nll 0). One workgroup per row.

struct Params {
  rows: u32,
  vocab: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> nll: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
var<workgroup> vmax: array<f32, WG>;
var<workgroup> imax: array<u32, WG>;
var<workgroup> vsum: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.vocab;
  var m = -3.4e38;
  var mi = 0u;
  for (var c = li; c < p.vocab; c += WG) {
    let v = logits[base + c];
    if (v > m) { m = v; mi = c; }
  }
  vmax[li] = m;
  imax[li] = mi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let a = vmax[li];
      let bv = vmax[li + s];
      if (bv > a || (bv == a && imax[li + s] < imax[li])) { vmax[li] = bv; imax[li] = imax[li + s]; }
    }
    workgroupBarrier();
  }
  let rowMax = vmax[0];
  var sum = 0.0;
  for (var c = li; c < p.vocab; c += WG) { sum += exp(logits[base + c] - rowMax); }
  vsum[li] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { vsum[li] += vsum[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) {
    argmax[r] = imax[0];
    let tgt = targets[r];
    if (tgt == 0xFFFFFFFFu) { nll[r] = 0.0; } else { nll[r] = log(vsum[0]) + rowMax - logits[base + tgt]; }
  }
}

// One thread per row, no barriers: for CPU fallbacks (SwiftShader).
@compute @workgroup_size(64)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= p.rows) { return; }
  let base = r * p.vocab;
  var m = -3.4e38;
  var mi = 0u;
  for (var c = 0u; c < p.vocab; c++) {
    let v = logits[base + c];
    if (v > m) { m = v; mi = c; }
  }
  var sum = 0.0;
  for (var c = 0u; c < p.vocab; c++) { sum += exp(logits[base + c] - m); }
  argmax[r] = mi;
  let tgt = targets[r];
  if (tgt == 0xFFFFFFFFu) { nll[r] = 0.0; } else { nll[r] = log(sum) + m - logits[base + tgt]; }
}
