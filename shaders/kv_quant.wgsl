// The KV-cache quantiser (src/model/kvQuant.ts has the rule, src/reference/kvQuant.ts its float64 reference), one thread per
// group of a cached tensor x [B, cacheT, W] for the positions first … end−1:
//   quantise   (entry `quantise`):   m = f16(min), s = f16((max − m)/L), L = 2^bits − 1; codes q = clamp(round((x − m)/s), 0, L)
//                                    packed floor(32/bits) to a u32 word (never straddling words), and (f16(m), f16(s)) as
//                                    one u32 in `params` — the cache as a deployed one stores it;
//   dequantise (entry `dequantise`): x = m + q·s from the codes, back into x (what attention reads).
// Groups: AXIS 0, per channel: G consecutive positions of one channel (first, end multiples of G, or end = cacheT), group id
// (b·groupRows + position group)·W + channel; AXIS 1, per token: G consecutive channels of one position (the last group of
// a row may be shorter), group id (b·cacheT + position)·groupRows + channel group. SINK 1: position 0 is left exact and
// out of its group's range. f16 rounding and its bit patterns are written out here (round to nearest even, subnormals
// kept), so that no backend's pack2x16float flushes a small scale to zero.

struct Params {
  B: u32,
  cacheT: u32,
  W: u32,
  G: u32,
  bits: u32,
  first: u32,
  end: u32,
  groupRows: u32,
  wordsPerGroup: u32,
  sink: u32,
  groups: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> codes: array<u32>;
@group(0) @binding(2) var<storage, read_write> params: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

override AXIS: u32 = 0u;
const WG: u32 = 64u;
const F16_MAX: f32 = 65504.0;
const F16_MIN_NORMAL: f32 = 6.103515625e-5; // 2^-14
const F16_SUBNORMAL_STEP: f32 = 5.9604644775390625e-8; // 2^-24

fn roundF16(v: f32) -> f32 {
  let c = clamp(v, -F16_MAX, F16_MAX);
  if (abs(c) < F16_MIN_NORMAL) { return round(c / F16_SUBNORMAL_STEP) * F16_SUBNORMAL_STEP; }
  // drop the 13 low mantissa bits, rounding to nearest even (the sign bit rides along)
  let b = bitcast<u32>(c);
  return clamp(bitcast<f32>((b + 0xFFFu + ((b >> 13u) & 1u)) & 0xFFFFE000u), -F16_MAX, F16_MAX);
}

// The f16 bit pattern of a value roundF16 returned (exactly representable).
fn f16Bits(v: f32) -> u32 {
  let sign = select(0u, 0x8000u, v < 0.0);
  let a = abs(v);
  if (a < F16_MIN_NORMAL) { return sign | u32(round(a / F16_SUBNORMAL_STEP)); }
  let b = bitcast<u32>(a);
  return sign | ((((b >> 23u) & 0xFFu) - 112u) << 10u) | ((b >> 13u) & 0x3FFu);
}

fn f16Value(h: u32) -> f32 {
  let sign = select(1.0, -1.0, (h & 0x8000u) != 0u);
  let e = (h >> 10u) & 0x1Fu;
  let m = h & 0x3FFu;
  if (e == 0u) { return sign * f32(m) * F16_SUBNORMAL_STEP; }
  return sign * bitcast<f32>(((e + 112u) << 23u) | (m << 13u));
}

struct Group {
  // first element of x, stride between its values, how many, group id, index within the group left exact (n: none)
  e0: u32,
  stride: u32,
  n: u32,
  id: u32,
  skip: u32,
  live: bool,
}

fn groupOf(i: u32) -> Group {
  var g: Group;
  g.live = i < p.groups;
  let j = min(i, max(p.groups, 1u) - 1u);
  if (AXIS == 0u) {
    let c = j % p.W;
    let rest = j / p.W;
    let pg = p.first / p.G + rest % ((p.end - p.first + p.G - 1u) / p.G);
    let b = rest / ((p.end - p.first + p.G - 1u) / p.G);
    let p0 = pg * p.G;
    g.e0 = (b * p.cacheT + p0) * p.W + c;
    g.stride = p.W;
    g.n = min(p.G, p.cacheT - p0);
    g.id = (b * p.groupRows + pg) * p.W + c;
    g.skip = select(g.n, 0u, p.sink == 1u && p0 == 0u);
  } else {
    let cg = j % p.groupRows;
    let rest = j / p.groupRows;
    let pos = p.first + rest % (p.end - p.first);
    let b = rest / (p.end - p.first);
    g.e0 = (b * p.cacheT + pos) * p.W + cg * p.G;
    g.stride = 1u;
    g.n = min(p.G, p.W - cg * p.G);
    g.id = (b * p.cacheT + pos) * p.groupRows + cg;
    g.skip = g.n;
    if (p.sink == 1u && pos == 0u) { g.live = false; }
  }
  return g;
}

fn flat(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

@compute @workgroup_size(WG)
fn quantise(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = groupOf(flat(wg, nwg, li));
  if (!g.live) { return; }
  var lo = 3.4e38;
  var hi = -3.4e38;
  for (var r = 0u; r < g.n; r++) {
    if (r == g.skip) { continue; }
    let v = x[g.e0 + r * g.stride];
    lo = min(lo, v);
    hi = max(hi, v);
  }
  let L = f32((1u << p.bits) - 1u);
  let m = roundF16(lo);
  let s = roundF16((hi - m) / L);
  params[g.id] = f16Bits(m) | (f16Bits(s) << 16u);
  let perWord = 32u / p.bits;
  let base = g.id * p.wordsPerGroup;
  for (var w = 0u; w < p.wordsPerGroup; w++) { codes[base + w] = 0u; }
  for (var r = 0u; r < g.n; r++) {
    if (r == g.skip) { continue; }
    var q = 0u;
    if (s > 0.0) { q = u32(clamp(round((x[g.e0 + r * g.stride] - m) / s), 0.0, L)); }
    codes[base + r / perWord] |= q << ((r % perWord) * p.bits);
  }
}

@compute @workgroup_size(WG)
fn dequantise(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = groupOf(flat(wg, nwg, li));
  if (!g.live) { return; }
  let ms = params[g.id];
  let m = f16Value(ms & 0xFFFFu);
  let s = f16Value(ms >> 16u);
  let perWord = 32u / p.bits;
  let mask = (1u << p.bits) - 1u;
  let base = g.id * p.wordsPerGroup;
  for (var r = 0u; r < g.n; r++) {
    if (r == g.skip) { continue; }
    let q = (codes[base + r / perWord] >> ((r % perWord) * p.bits)) & mask;
    x[g.e0 + r * g.stride] = m + f32(q) * s;
  }
}
