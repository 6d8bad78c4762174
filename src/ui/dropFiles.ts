// Files from a drop: plain files, and whole folders (walked through the File System entries API), with their paths.
export async function filesFromDrop(dt: DataTransfer): Promise<[string, File][]> {
  const out: [string, File][] = [];
  const entries = [...dt.items].filter((i) => i.kind === 'file').map((i) => (typeof i.webkitGetAsEntry === 'function' ? i.webkitGetAsEntry() : null));
  if (entries.length && entries.every((e) => e !== null)) {
    for (const e of entries) await walk(e!, '', out);
    return out;
  }
  for (const f of [...dt.files]) out.push([f.name, f]);
  return out;
}

async function walk(entry: FileSystemEntry, prefix: string, out: [string, File][]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push([`${prefix}${entry.name}`, file]);
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const e of batch) await walk(e, `${prefix}${entry.name}/`, out);
  }
}

/** The folder name of a picked or dropped set of files, else the files' names. */
export function labelOf(files: [string, File][]): string {
  const dirs = new Set(files.map(([p]) => (p.includes('/') ? p.split('/')[0] : '')));
  if (dirs.size === 1 && [...dirs][0]) return [...dirs][0];
  return files.map(([p]) => p.split('/').pop()).join(', ');
}
