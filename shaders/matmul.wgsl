// Batched matrix product  C[b] = alpha · op(A[b]) · op(B[b]) (+ bias) (+ beta · C[b]),  op = identity or transpose.
// The epilogue adds a per-column bias when HAS_BIAS (a linear layer's bias) and beta · C (beta = 1: a residual add), so a
// layer's projection, bias and residual are one dispatch.
//   A is [M, K] row-major, or [K, M] when TRANS_A (so x·Wᵀ and Wᵀ·x need no transposed copies);
//   B is [K, N] row-major, or [N, K] when TRANS_B.
// A stride of 0 broadcasts that operand over the batch (one weight matrix for every head or sequence).
// C's rows are ldc apart and start at offC: a product can fill a block of columns of a wider matrix (the LM head of a
// vocabulary split across storage bindings writes its logits chunk by chunk).
// Three entry points:
//   wide    — (at the end) 128×128 tiles, 8×8 outputs per thread, next stage prefetched into registers: large products on GPUs.
//   main    — tiled: each workgroup computes a 64×64 tile of C; its 16×16 threads each own 4×4 outputs, strided by 16 so that
//             neighbouring threads touch neighbouring addresses; K advances 16 at a time through workgroup memory.
//   direct  — register-blocked without workgroup memory: each thread owns a 4×4 block and reads A and B straight from
//             storage. CPU fallbacks (SwiftShader) run it several times faster, because barriers are costly there.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  strideA: u32,
  strideB: u32,
  strideC: u32,
  alpha: f32,
  beta: f32,
  ldc: u32,
  offC: u32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;

/** The epilogue of every entry point: alpha · acc (+ bias[c]) (+ beta · C[idx]); beta = 0 never reads C (it may hold NaN). */
fn epilogue(idx: u32, c: u32, acc: f32) -> f32 {
  var v = p.alpha * acc;
  if (HAS_BIAS) { v += bias[c]; }
  if (p.beta != 0.0) { v += p.beta * C[idx]; }
  return v;
}

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> tileA: array<f32, 1024>; // [TK][TILE], k-major
var<workgroup> tileB: array<f32, 1024>; // [TK][TILE], k-major

fn loadA(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TRANS_A) { return A[base + k * p.M + m]; }
  return A[base + m * p.K + k];
}

fn loadB(base: u32, k: u32, n: u32) -> f32 {
  if (n >= p.N || k >= p.K) { return 0.0; }
  if (TRANS_B) { return B[base + n * p.K + k]; }
  return B[base + k * p.N + n];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  let baseA = wg.z * p.strideA;
  let baseB = wg.z * p.strideB;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }

  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    // 256 threads stage 1024 values of each operand, reading along the operand's contiguous axis.
    for (var r = 0u; r < 4u; r++) {
      let e = li + r * 256u;
      if (TRANS_A) {
        let k = e / TILE; let m = e % TILE;
        tileA[k * TILE + m] = loadA(baseA, row0 + m, k0 + k);
      } else {
        let m = e / TK; let k = e % TK;
        tileA[k * TILE + m] = loadA(baseA, row0 + m, k0 + k);
      }
      if (TRANS_B) {
        let n = e / TK; let k = e % TK;
        tileB[k * TILE + n] = loadB(baseB, k0 + k, col0 + n);
      } else {
        let k = e / TILE; let n = e % TILE;
        tileB[k * TILE + n] = loadB(baseB, k0 + k, col0 + n);
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = tileA[k * TILE + lid.y + 16u * i]; }
      for (var j = 0u; j < 4u; j++) { b[j] = tileB[k * TILE + lid.x + 16u * j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y + 16u * i;
    if (r >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid.x + 16u * j;
      if (c >= p.N) { continue; }
      let idx = wg.z * p.strideC + p.offC + r * p.ldc + c;
      C[idx] = epilogue(idx, c, acc[i * 4u + j]);
    }
  }
}

// Index clamped into the matrix, so that the inner loop needs no bounds checks; out-of-range rows and columns are
// computed on duplicated data and never written.
fn clampRow(r: u32) -> u32 { return min(r, p.M - 1u); }
fn clampCol(c: u32) -> u32 { return min(c, p.N - 1u); }

// Written out by hand with vec4 accumulators: SwiftShader's JIT neither unrolls loops nor keeps indexed arrays in
// registers.
@compute @workgroup_size(8, 8)
fn direct(@builtin(global_invocation_id) gid: vec3u) {
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= M || col0 >= N) { return; }
  let baseA = gid.z * p.strideA;
  let baseB = gid.z * p.strideB;
  let r = vec4u(clampRow(row0), clampRow(row0 + 1u), clampRow(row0 + 2u), clampRow(row0 + 3u));
  let c = vec4u(clampCol(col0), clampCol(col0 + 1u), clampCol(col0 + 2u), clampCol(col0 + 3u));
  // Element (i, k) of op(A) sits at baseA + i·aRow + k·aK; element (k, j) of op(B) at baseB + k·bK + j·bCol.
  var aRow = K; var aK = 1u;
  if (TRANS_A) { aRow = 1u; aK = M; }
  var bK = N; var bCol = 1u;
  if (TRANS_B) { bK = 1u; bCol = K; }
  let ia = baseA + r * aRow;
  let ib = baseB + c * bCol;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k = 0u; k < K; k++) {
    let ka = k * aK;
    let kb = k * bK;
    let a = vec4f(A[ia.x + ka], A[ia.y + ka], A[ia.z + ka], A[ia.w + ka]);
    let b = vec4f(B[ib.x + kb], B[ib.y + kb], B[ib.z + kb], B[ib.w + kb]);
    acc0 = fma(vec4f(a.x), b, acc0);
    acc1 = fma(vec4f(a.y), b, acc1);
    acc2 = fma(vec4f(a.z), b, acc2);
    acc3 = fma(vec4f(a.w), b, acc3);
  }
  storeRow(gid.z, row0, col0, acc0);
  storeRow(gid.z, row0 + 1u, col0, acc1);
  storeRow(gid.z, row0 + 2u, col0, acc2);
  storeRow(gid.z, row0 + 3u, col0, acc3);
}

fn storeRow(batch: u32, r: u32, col0: u32, v: vec4f) {
  if (r >= p.M) { return; }
  let base = batch * p.strideC + p.offC + r * p.ldc;
  for (var j = 0u; j < 4u; j++) {
    let c = col0 + j;
    if (c >= p.N) { return; }
    C[base + c] = epilogue(base + c, c, v[j]);
  }
}

// wide — GPUs, large products: 128×128 outputs per workgroup, 16×16 threads each owning 8×8 (rows ty·4…+3 and 64+ty·4…+3,
// the same for columns with tx), so each step over k reads two vec4 of A and two of B from workgroup memory for 64 FMAs.
// K advances 16 at a time through one 16 KiB stage (the default workgroup limit); the next stage's 8 + 8 values per thread
// are fetched from storage into registers while the current one is multiplied, and written once the stage is consumed.
const WT: u32 = 128u;
const WK: u32 = 16u;
var<workgroup> wA: array<vec4f, 512>; // [WK][WT / 4]: op(A) column k, rows in vec4s
var<workgroup> wB: array<vec4f, 512>; // [WK][WT / 4]: op(B) row k, columns in vec4s

/** Element e (0 … 2047) of a stage: its (row-or-column within the tile, k), walking each operand's contiguous axis. */
fn stageA(e: u32) -> vec2u {
  if (TRANS_A) { return vec2u(e % WT, e / WT); }
  return vec2u(e / WK, e % WK);
}
fn stageB(e: u32) -> vec2u {
  if (TRANS_B) { return vec2u(e / WK, e % WK); }
  return vec2u(e % WT, e / WT);
}

@compute @workgroup_size(16, 16)
fn wide(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * WT;
  let col0 = wg.x * WT;
  let baseA = wg.z * p.strideA;
  let baseB = wg.z * p.strideB;
  var acc: array<vec4f, 16>; // acc[2i + h]: row i of the thread's 8, columns of half h
  for (var i = 0u; i < 16u; i++) { acc[i] = vec4f(0.0); }
  var pa: array<f32, 8>;
  var pb: array<f32, 8>;
  for (var r = 0u; r < 8u; r++) {
    let ea = stageA(li + r * 256u);
    pa[r] = loadA(baseA, row0 + ea.x, ea.y);
    let eb = stageB(li + r * 256u);
    pb[r] = loadB(baseB, eb.y, col0 + eb.x);
  }
  for (var k0 = 0u; k0 < p.K; k0 += WK) {
    workgroupBarrier();
    for (var r = 0u; r < 8u; r++) {
      let ea = stageA(li + r * 256u);
      wA[ea.y * 32u + ea.x / 4u][ea.x % 4u] = pa[r];
      let eb = stageB(li + r * 256u);
      wB[eb.y * 32u + eb.x / 4u][eb.x % 4u] = pb[r];
    }
    workgroupBarrier();
    let next = k0 + WK;
    if (next < p.K) {
      for (var r = 0u; r < 8u; r++) {
        let ea = stageA(li + r * 256u);
        pa[r] = loadA(baseA, row0 + ea.x, next + ea.y);
        let eb = stageB(li + r * 256u);
        pb[r] = loadB(baseB, next + eb.y, col0 + eb.x);
      }
    }
    for (var k = 0u; k < WK; k++) {
      let a0 = wA[k * 32u + lid.y];
      let a1 = wA[k * 32u + 16u + lid.y];
      let b0 = wB[k * 32u + lid.x];
      let b1 = wB[k * 32u + 16u + lid.x];
      for (var i = 0u; i < 4u; i++) {
        acc[2u * i] = fma(vec4f(a0[i]), b0, acc[2u * i]);
        acc[2u * i + 1u] = fma(vec4f(a0[i]), b1, acc[2u * i + 1u]);
        acc[8u + 2u * i] = fma(vec4f(a1[i]), b0, acc[8u + 2u * i]);
        acc[9u + 2u * i] = fma(vec4f(a1[i]), b1, acc[9u + 2u * i]);
      }
    }
  }
  for (var i = 0u; i < 8u; i++) {
    let r = row0 + (i / 4u) * 64u + lid.y * 4u + i % 4u;
    if (r >= p.M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      let v = acc[2u * i + h];
      for (var j = 0u; j < 4u; j++) {
        let c = col0 + h * 64u + lid.x * 4u + j;
        if (c >= p.N) { continue; }
        let idx = wg.z * p.strideC + p.offC + r * p.ldc + c;
        C[idx] = epilogue(idx, c, v[j]);
      }
    }
  }
}
