// Elementwise maps over n values.
//   unary  (entry `unary`):  y = f(alpha · x),  OP: 0 identity, 1 SiLU, 2 GELU (tanh form), 3 GELU (erf form), 4 exp
//   binary (entry `binary`): y = a ∘ b[i mod bLen],  OP: 0 add, 1 multiply, 2 silu(a)·b (SwiGLU) — bLen < n broadcasts b
//                            over rows (biases, gains)
//   accumulate (entry `accumulate`): y += b[i mod bLen] in place (residual adds, biases)
// Backward of the MLP activations (training), given dy, the gradient of the activation's output:
//   swigluGrad: a = gate pre-activation g, x2 = up projection u:  dx = dy·u·σ(g)(1 + g(1 − σ(g))),  dx2 = dy·silu(g)
//   geluGrad:   a = pre-activation u (OP 2 tanh form, 3 erf form):  dx = dy·gelu'(u)
// Flat indices span a 2-D grid of 256-wide workgroups so that n may exceed the per-dimension dispatch limit.

struct Params {
  n: u32,
  bLen: u32,
  alpha: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> x2: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx2: array<f32>;

override OP: u32 = 0u;
const WG: u32 = 256u;

// erfc(z) for z ≥ 0 with relative error < 1.2e-7 (the Chebyshev fit of Numerical Recipes' erfcc). GELU uses erfc on the
// negative side, so that its small values do not come from 1 + erf(x) ≈ 0 (cancellation).
fn erfc_nonneg(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  return t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
         t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
         t * (-0.82215223 + t * 0.17087277)))))))));
}

fn unary_op(x: f32) -> f32 {
  switch OP {
    case 1u: { return x / (1.0 + exp(-x)); }
    case 2u: {
      // tanh argument clamped: tanh saturates in f32 long before ±10, and some backends overflow exp() beyond it.
      let inner = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -10.0, 10.0);
      return 0.5 * x * (1.0 + tanh(inner));
    }
    case 3u: {
      // 0.5·x·(1 + erf(x/√2)) = 0.5·x·(2 − erfc(x/√2)) for x ≥ 0, and 0.5·x·erfc(−x/√2) for x < 0.
      let r = erfc_nonneg(abs(x) * 0.7071067811865476);
      return select(0.5 * x * r, 0.5 * x * (2.0 - r), x >= 0.0);
    }
    case 4u: { return exp(x); }
    default: { return x; }
  }
}

fn index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

@compute @workgroup_size(WG)
fn unary(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, nwg, li);
  if (i >= p.n) { return; }
  y[i] = unary_op(p.alpha * a[i]);
}

@compute @workgroup_size(WG)
fn binary(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, nwg, li);
  if (i >= p.n) { return; }
  let bv = b[i % p.bLen];
  let av = a[i];
  if (OP == 1u) { y[i] = av * bv; } else if (OP == 2u) { y[i] = av / (1.0 + exp(-av)) * bv; } else { y[i] = av + bv; }
}

@compute @workgroup_size(WG)
fn accumulate(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, nwg, li);
  if (i >= p.n) { return; }
  y[i] += b[i % p.bLen];
}

@compute @workgroup_size(WG)
fn swigluGrad(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, nwg, li);
  if (i >= p.n) { return; }
  let g = a[i];
  let sig = 1.0 / (1.0 + exp(-g));
  dx[i] = dy[i] * x2[i] * sig * (1.0 + g * (1.0 - sig));
  dx2[i] = dy[i] * g * sig;
}

fn gelu_derivative(x: f32) -> f32 {
  if (OP == 2u) {
    let c = 0.7978845608028654;
    let t = tanh(clamp(c * (x + 0.044715 * x * x * x), -10.0, 10.0));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
  }
  // Φ(x) + x·φ(x), with Φ from erfc so that its small values keep their precision.
  let r = erfc_nonneg(abs(x) * 0.7071067811865476);
  let cdf = select(0.5 * r, 1.0 - 0.5 * r, x >= 0.0);
  return cdf + x * 0.3989422804014327 * exp(-0.5 * x * x);
}

@compute @workgroup_size(WG)
fn geluGrad(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, nwg, li);
  if (i >= p.n) { return; }
  dx[i] = dy[i] * gelu_derivative(a[i]);
}
