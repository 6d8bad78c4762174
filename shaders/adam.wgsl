// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), one thread per parameter:
//   m = β₁ m + (1 − β₁) g;  v = β₂ v + (1 − β₂) g²;  θ −= lr · (m / c₁) / (√(v / c₂) + ε)
// with c₁ = 1 − β₁ᵗ and c₂ = 1 − β₂ᵗ passed in (bias corrections of step t).
// Entries:
//   main    — Adam (the fusion stages' operators and weights)
//   sumsq   — one workgroup: sq[slot] = Σ g² over the n values of one gradient tensor (for global-norm clipping)
//   clip    — one thread: scale[0] = min(1, maxNorm / ‖g‖) with ‖g‖² = Σ over `slots` entries of sq (1 when maxNorm = 0)
//   adamw   — AdamW with the clipped gradient g·scale[0] and decoupled weight decay: θ ← θ·(1 − lr·wd) − lr·(m/c₁)/(√(v/c₂)+ε)

struct Params {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  c1: f32,
  c2: f32,
  wd: f32,
  slot: u32,
  slots: u32,
  maxNorm: f32,
}

@group(0) @binding(0) var<storage, read_write> theta: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> sq: array<f32>;
@group(0) @binding(6) var<storage, read_write> scale: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  let gi = g[i];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gi;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  theta[i] = theta[i] - p.lr * (mi / p.c1) / (sqrt(vi / p.c2) + p.eps);
}

const WG: u32 = 256u; // workgroupSum: shaders/lib/workgroup_reduce.wgsl, put in front by the runner

@compute @workgroup_size(WG)
fn sumsq(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = li; i < p.n; i += WG) { let x = g[i]; s += x * x; }
  let total = workgroupSum(s, li);
  if (li == 0u) { sq[p.slot] = total; }
}

@compute @workgroup_size(1)
fn clip() {
  var total = 0.0;
  for (var s = 0u; s < p.slots; s++) { total += sq[s]; }
  let norm = sqrt(total);
  var f = 1.0;
  if (p.maxNorm > 0.0 && norm > p.maxNorm) { f = p.maxNorm / norm; }
  scale[0] = f;
  scale[1] = norm;
}

@compute @workgroup_size(64)
fn adamw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  let gi = g[i] * scale[0];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gi;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  theta[i] = theta[i] * (1.0 - p.lr * p.wd) - p.lr * (mi / p.c1) / (sqrt(vi / p.c2) + p.eps);
}
