// A clone alone passes npm test: every test, the test runner and the bench read their data from inside the repository.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, TESTDATA, testdata } from './testdata';

const inside = (p: string) => !path.relative(REPO_ROOT, p).startsWith('..') && !path.isAbsolute(path.relative(REPO_ROOT, p));

function files(dir: string): string[] {
  return readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : /\.(ts|tsx|mjs|js)$/.test(e.name) ? [path.join(dir, e.name)] : [],
  );
}

describe('the repository stands alone', () => {
  it('resolves test data inside the repository unless an override is set', () => {
    if (!process.env.HEADLAB_TESTDATA && !process.env.HEADLAB_SHARED) expect(inside(TESTDATA)).toBe(true);
    for (const p of ['data/stories260K.bin', 'data/tok512.bin', 'data/tinystories-mha.bin', 'fixtures/hf/gpt2/config.json', 'data/demo/tok259.bin']) {
      expect(inside(testdata(p)) || !inside(TESTDATA)).toBe(true);
    }
    expect(() => testdata('data/no-such-file.bin')).toThrow(/test data not found: .*no-such-file\.bin/);
  });

  it('no test, e2e spec, test runner or bench names a folder outside the repository', () => {
    const sources = [...files('test'), ...files('e2e'), 'scripts/test.mjs', 'scripts/bench.mjs', 'scripts/start.mjs', 'playwright.config.ts', 'vite.config.ts'];
    const outside = /\.\.\/shared|['"]\.\.['"]\s*,\s*['"]shared['"]|\.\.\/\.\.\/(?!src|shaders|test|public|node_modules)/;
    const offenders = sources.filter((f) => f !== 'test/standalone.test.ts' && outside.test(readFileSync(path.join(REPO_ROOT, f), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
