// WGSL private arrays need constant sizes (override constants may size workgroup arrays only), so kernels that keep a
// head's row in registers are specialised per head dim by rewriting their `const NAME: u32 = …u;` lines.

/** The code with each named u32 constant set to its value; throws when a constant is missing (a renamed kernel variable). */
export function specialize(code: string, values: Record<string, number>): string {
  let out = code;
  for (const [name, value] of Object.entries(values)) {
    const re = new RegExp(`const ${name}: u32 = \\d+u;`);
    if (!re.test(out)) throw new Error(`specialize: the kernel has no "const ${name}: u32" to set`);
    out = out.replace(re, `const ${name}: u32 = ${value}u;`);
  }
  return out;
}
