// Formatting of quantities for messages and the page, with no dependency: model/, gpu/, train/, the CLI and the UI all use it.

/** A byte count in binary units: "512 B", "1.50 KiB", "12.0 MiB" (two decimals below 10 of a unit, one above). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
