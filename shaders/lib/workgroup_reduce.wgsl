// Workgroup-wide sum and max of one f32 per invocation: a halving tree in workgroup memory. Written once; the runners
// (src/gpu/kernels/wgsl.ts) put it in front of every shader that reduces a row per workgroup (norm, norm_grad, loss,
// softmax, reduce, adam). That shader defines `const WG: u32`, its workgroup size, a power of two. Every invocation of the
// workgroup calls these in uniform control flow; each returns the same value in every invocation, and a barrier ends each
// call, so the next call may reuse the scratch at once.

var<workgroup> reduceScratch: array<f32, WG>;

fn workgroupSum(value: f32, li: u32) -> f32 {
  reduceScratch[li] = value;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { reduceScratch[li] += reduceScratch[li + s]; }
    workgroupBarrier();
  }
  let total = reduceScratch[0];
  workgroupBarrier();
  return total;
}

fn workgroupMax(value: f32, li: u32) -> f32 {
  reduceScratch[li] = value;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { reduceScratch[li] = max(reduceScratch[li], reduceScratch[li + s]); }
    workgroupBarrier();
  }
  let total = reduceScratch[0];
  workgroupBarrier();
  return total;
}
