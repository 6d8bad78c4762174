// Batched matrix product  C[b] = alpha · op(A[b]) · op(B[b]) (+ beta · C[b]),  op = identity or transpose.
//   A is [M, K] row-major, or [K, M] when TRANS_A (so x·Wᵀ and Wᵀ·x need no transposed copies);
//   B is [K, N] row-major, or [N, K] when TRANS_B.
// A stride of 0 broadcasts that operand over the batch (one weight matrix for every head or sequence).
// Tiling: each workgroup computes a 64×64 tile of C; its 16×16 threads each own 4×4 outputs, strided by 16 so that
// neighbouring threads touch neighbouring addresses; K advances 16 at a time through workgroup memory.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  strideA: u32,
  strideB: u32,
  strideC: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

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
      let idx = wg.z * p.strideC + r * p.N + c;
      var v = p.alpha * acc[i * 4u + j];
      // beta = 0 must not read C: outputs may hold anything, NaN included.
      if (p.beta != 0.0) { v += p.beta * C[idx]; }
      C[idx] = v;
    }
  }
}
