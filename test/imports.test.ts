// The source has no import cycles (madge over src/, TypeScript imports included): the host and the jobs of the compute
// core, the lab's stores and the fusion core depend on each other one way only. And the layers hold: the model
// (src/model/) and the float64 references (src/reference/) import nothing from the GPU side (src/gpu/, src/eval/), type
// imports included, so that they run and are read without it.
import { describe, expect, it } from 'vitest';
import madge from 'madge';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './testdata';

const SRC = path.join(REPO_ROOT, 'src');

/** Every module a source file imports or re-exports: static, type-only, side-effect and dynamic imports. */
function specifiers(code: string): string[] {
  const re = /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  return [...code.matchAll(re)].map((m) => m[1] ?? m[2] ?? m[3]);
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(dir, e.name)] : [],
  );
}

/** The imports of every file under src/<from> that resolve into one of src/<to…>, as 'file → specifier'. */
function crossings(from: string, to: string[]): { count: number; bad: string[] } {
  let count = 0;
  const bad: string[] = [];
  for (const file of sources(path.join(SRC, from))) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      count++;
      if (!spec.startsWith('.')) continue;
      const target = path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep)[0];
      if (to.includes(target)) bad.push(`${path.relative(REPO_ROOT, file)} → ${spec}`);
    }
  }
  return { count, bad };
}

describe('imports', () => {
  it('src/ has no circular import', async () => {
    const graph = await madge(path.join(REPO_ROOT, 'src'), { fileExtensions: ['ts', 'tsx'], tsConfig: path.join(REPO_ROOT, 'tsconfig.json') });
    expect(Object.keys(graph.obj()).length).toBeGreaterThan(100); // it read the tree
    expect(graph.circular()).toEqual([]);
  });

  it('src/model/ and src/reference/ import nothing from src/eval/ or src/gpu/', () => {
    // the scanner sees every form of import
    expect(
      specifiers(
        "import a from '../gpu/a';\nimport type {\n  B,\n} from '../eval/b';\nexport { c } from './c';\nimport '../gpu/d.css';\nconst e = await import('../eval/e');",
      ),
    ).toEqual(['../gpu/a', '../eval/b', './c', '../gpu/d.css', '../eval/e']);
    for (const layer of ['model', 'reference']) {
      const { count, bad } = crossings(layer, ['eval', 'gpu']);
      expect(count, `imports read in src/${layer}/`).toBeGreaterThan(5);
      expect(bad, `src/${layer}/ importing the GPU side`).toEqual([]);
    }
  });
});
