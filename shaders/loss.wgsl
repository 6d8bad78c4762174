// Training losses on logits [rows, vocab], per row r, with student probabilities p = softmax(z):
//   KL(teacher ‖ student) = Σ_v q_v (log q_v − log p_v),  q = softmax(teacher logits)      (distillation)
//   CE = logsumexp(z) − z[target]                                                            (next-token cross-entropy)
//   loss_r = klWeight · KL + (1 − klWeight) · CE
// The logits are overwritten by the gradient  scale · (p − klWeight · q − (1 − klWeight) · onehot(target)), and rowLoss[r]
// gets loss_r (unscaled). A row whose target is 0xFFFFFFFF is not scored: gradient 0, loss 0 (targets also mask KL rows).
// With klWeight = 0 the teacher is never read (bind any read-only buffer).
// Entries: main — one workgroup per row; rows — one thread per row without barriers (CPU fallbacks).

struct Params {
  rows: u32,
  vocab: u32,
  klWeight: f32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> teacher: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u; // workgroupSum / workgroupMax: shaders/lib/workgroup_reduce.wgsl, put in front by the runner
const NONE: u32 = 0xFFFFFFFFu;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.vocab;
  let tgt = targets[r];
  if (tgt == NONE) {
    for (var c = li; c < p.vocab; c += WG) { logits[base + c] = 0.0; }
    if (li == 0u) { rowLoss[r] = 0.0; }
    return;
  }
  let kl = p.klWeight;
  var m = -3.4e38;
  for (var c = li; c < p.vocab; c += WG) { m = max(m, logits[base + c]); }
  m = workgroupMax(m, li);
  var s = 0.0;
  for (var c = li; c < p.vocab; c += WG) { s += exp(logits[base + c] - m); }
  let lse = m + log(workgroupSum(s, li));
  var lseT = 0.0;
  var klSum = 0.0;
  if (kl > 0.0) {
    var mt = -3.4e38;
    for (var c = li; c < p.vocab; c += WG) { mt = max(mt, teacher[base + c]); }
    mt = workgroupMax(mt, li);
    var st = 0.0;
    for (var c = li; c < p.vocab; c += WG) { st += exp(teacher[base + c] - mt); }
    lseT = mt + log(workgroupSum(st, li));
    var acc = 0.0;
    for (var c = li; c < p.vocab; c += WG) {
      let lq = teacher[base + c] - lseT;
      acc += exp(lq) * (lq - (logits[base + c] - lse));
    }
    klSum = workgroupSum(acc, li);
  }
  var ce = 0.0;
  if (kl < 1.0) { ce = lse - logits[base + min(tgt, p.vocab - 1u)]; }
  workgroupBarrier();
  for (var c = li; c < p.vocab; c += WG) {
    var g = exp(logits[base + c] - lse);
    if (kl > 0.0) { g -= kl * exp(teacher[base + c] - lseT); }
    if (c == tgt && kl < 1.0) { g -= 1.0 - kl; }
    logits[base + c] = p.scale * g;
  }
  if (li == 0u) { rowLoss[r] = kl * klSum + (1.0 - kl) * ce; }
}

@compute @workgroup_size(64)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= p.rows) { return; }
  let base = r * p.vocab;
  let tgt = targets[r];
  if (tgt == NONE) {
    for (var c = 0u; c < p.vocab; c++) { logits[base + c] = 0.0; }
    rowLoss[r] = 0.0;
    return;
  }
  let kl = p.klWeight;
  var m = -3.4e38;
  for (var c = 0u; c < p.vocab; c++) { m = max(m, logits[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.vocab; c++) { s += exp(logits[base + c] - m); }
  let lse = m + log(s);
  var lseT = 0.0;
  var klSum = 0.0;
  if (kl > 0.0) {
    var mt = -3.4e38;
    for (var c = 0u; c < p.vocab; c++) { mt = max(mt, teacher[base + c]); }
    var st = 0.0;
    for (var c = 0u; c < p.vocab; c++) { st += exp(teacher[base + c] - mt); }
    lseT = mt + log(st);
    for (var c = 0u; c < p.vocab; c++) {
      let lq = teacher[base + c] - lseT;
      klSum += exp(lq) * (lq - (logits[base + c] - lse));
    }
  }
  var ce = 0.0;
  if (kl < 1.0) { ce = lse - logits[base + min(tgt, p.vocab - 1u)]; }
  for (var c = 0u; c < p.vocab; c++) {
    var g = exp(logits[base + c] - lse);
    if (kl > 0.0) { g -= kl * exp(teacher[base + c] - lseT); }
    if (c == tgt && kl < 1.0) { g -= 1.0 - kl; }
    logits[base + c] = p.scale * g;
  }
  rowLoss[r] = kl * klSum + (1.0 - kl) * ce;
}
