// Where the tests' checkpoints, texts and golden fixtures live: the repository's own testdata/ (data/ and fixtures/, with
// their NOTICE, SOURCES and licences). $HEADLAB_TESTDATA (or the older $HEADLAB_SHARED) may point at another folder of the
// same layout; nothing requires it. The built-in demo is public/demo (what the page ships). A missing file fails the test
// with the path it looked for. (Used by vitest and Playwright tests alike.)
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TESTDATA = path.resolve(process.env.HEADLAB_TESTDATA ?? process.env.HEADLAB_SHARED ?? path.join(REPO_ROOT, 'testdata'));
export const DEMO = path.join(REPO_ROOT, 'public', 'demo');

/** A path under testdata/ (e.g. 'data/stories260K.bin', 'fixtures/hf/gpt2'); 'data/demo/…' names the shipped demo. */
export function testdata(...parts: string[]): string {
  const rel = path.join(...parts);
  const demo = rel.startsWith(`data${path.sep}demo${path.sep}`);
  const p = demo ? path.join(DEMO, rel.slice(`data${path.sep}demo${path.sep}`.length)) : path.join(TESTDATA, rel);
  if (!existsSync(p)) throw new Error(`test data not found: ${p} (the repository's testdata/ holds data/ and fixtures/; HEADLAB_TESTDATA overrides it)`);
  return p;
}
