// Where the shared checkpoints, text and golden fixtures live: $HEADLAB_SHARED, default ../shared beside the repository.
// They are read in place, never copied. A missing file fails the test with the path it looked for. (Used by vitest and
// Playwright tests alike.)
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SHARED = path.resolve(process.env.HEADLAB_SHARED ?? path.resolve(here, '../../shared'));

export function shared(...parts: string[]): string {
  const p = path.join(SHARED, ...parts);
  if (!existsSync(p)) throw new Error(`shared test data not found: ${p} (set HEADLAB_SHARED to the folder that holds data/ and fixtures/)`);
  return p;
}
