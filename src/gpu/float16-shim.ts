// Node 20 has no Float16Array, and webgpu-utils names it in its WGSL type table when the module loads. headlab builds no
// f16 views (its kernels are f32), so where the constructor is missing a Uint16Array stand-in lets the module load; it holds
// raw bits and is never used for values. Browsers with Float16Array (Chrome 135+) keep their own.
const g = globalThis as { Float16Array?: unknown };
if (typeof g.Float16Array === 'undefined') {
  g.Float16Array = class Float16ArrayStandIn extends Uint16Array {};
}
export {};
