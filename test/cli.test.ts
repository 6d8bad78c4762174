// The bundled `headlab` command: built by esbuild, run as a user runs it.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { shared } from './shared';

const root = path.resolve(__dirname, '..');
const bundle = path.join(root, 'dist/cli/headlab.mjs');

function headlab(...args: string[]) {
  return spawnSync(process.execPath, [bundle, ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
}

beforeAll(() => {
  execFileSync(process.execPath, [path.join(root, 'scripts/build-cli.mjs'), '--quiet'], { cwd: root });
});

describe('headlab command', () => {
  it('is one self-contained ESM file: WGSL inlined, only webgpu external', () => {
    const text = readFileSync(bundle, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node')).toBe(true);
    expect(text).toContain('fn direct(@builtin(global_invocation_id)'); // shaders/matmul.wgsl
    const imports = [...text.matchAll(/^import .* from ["']([^"']+)["'];?$/gm)].map((m) => m[1]);
    expect(imports.filter((s) => !s.startsWith('node:'))).toEqual([]);
    expect(text).toMatch(/import\(["']webgpu["']\)/);
  });

  it('gpu prints the adapter as JSON', () => {
    const r = headlab('gpu');
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.vendor).toBeTruthy();
    expect(s.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(typeof s.isFallbackAdapter).toBe('boolean');
  });

  it('selftest --json passes every kernel', () => {
    const r = headlab('selftest', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.results.length).toBeGreaterThanOrEqual(10);
    expect(out.results.every((x: { pass: boolean }) => x.pass)).toBe(true);
  });

  it('bench --json prints adapter and, per size, n, ms and gflops', () => {
    const r = headlab('bench', '--json', '--sizes', '33,64');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(typeof out.adapter).toBe('string');
    expect(out.matmul.map((m: { n: number }) => m.n)).toEqual([33, 64]);
    for (const m of out.matmul) {
      expect(m.ms).toBeGreaterThan(0);
      expect(m.gflops).toBeCloseTo((2 * m.n ** 3) / (m.ms * 1e6), 6);
    }
  });

  it('info prints the model card of a llama2.c checkpoint, finding tok512.bin beside it', () => {
    const r = headlab('info', shared('data/stories260K.bin'));
    expect(r.status, r.stderr).toBe(0);
    const card = JSON.parse(r.stdout);
    expect(card).toMatchObject({ family: 'llama2c', layers: 5, heads: 8, headDim: 8, kvBytesPerToken: 1280, tokenizer: 'llama2c' });
    expect(card.kvHeads).toEqual(Array(5).fill({ k: 4, v: 4 }));
    expect(card.params).toBe(260_032);
  });

  it('info reads a Hugging Face folder, and one file of a sharded checkpoint', () => {
    const r = headlab('info', shared('fixtures/hf/llama-gqa-bf16'));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ family: 'llama', heads: 4, kvHeads: [{ k: 2, v: 2 }, { k: 2, v: 2 }], headDim: 16 });
    const s = headlab('info', shared('fixtures/hf/llama-mha-sharded/model-00003-of-00017.safetensors'));
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).layers).toBe(3);
  });

  it('info on a bad file exits 1 with one line naming the file', () => {
    const r = headlab('info', shared('data/tinystories_sample.txt'));
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^headlab: tinystories_sample\.txt: /);
    const m = headlab('info', '/nonexistent/model.bin');
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/no such file or folder/);
  });

  it('a bad command or flag exits non-zero with one clear line on stderr', () => {
    const r = headlab('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('headlab: unknown command "frobnicate"');
    const s = headlab('bench', '--sizes', 'abc');
    expect(s.status).toBe(2);
    expect(s.stderr.split('\n')[0]).toMatch(/--sizes: "abc" is not a list of positive integers/);
  });
});
