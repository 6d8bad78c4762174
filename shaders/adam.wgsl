// Adam (Kingma & Ba), one thread per parameter:
//   m = β₁ m + (1 − β₁) g;  v = β₂ v + (1 − β₂) g²;  θ −= lr · (m / c₁) / (√(v / c₂) + ε)
// with c₁ = 1 − β₁ᵗ and c₂ = 1 − β₂ᵗ passed in (bias corrections of step t).

struct Params {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  c1: f32,
  c2: f32,
}

@group(0) @binding(0) var<storage, read_write> theta: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

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
