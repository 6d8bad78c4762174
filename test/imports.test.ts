// The source has no import cycles (madge over src/, TypeScript imports included): the host and the jobs of the compute
// core, the lab's stores and the fusion core depend on each other one way only.
import { describe, expect, it } from 'vitest';
import madge from 'madge';
import path from 'node:path';
import { REPO_ROOT } from './testdata';

describe('imports', () => {
  it('src/ has no circular import', async () => {
    const graph = await madge(path.join(REPO_ROOT, 'src'), { fileExtensions: ['ts', 'tsx'], tsConfig: path.join(REPO_ROOT, 'tsconfig.json') });
    expect(Object.keys(graph.obj()).length).toBeGreaterThan(100); // it read the tree
    expect(graph.circular()).toEqual([]);
  });
});
