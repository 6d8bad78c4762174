// The bundled `headlab` command: built by esbuild, run as a user runs it.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openAsBlob, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFloatTensor, readSafetensorsHeader } from '../src/model/safetensors';
import { golden } from './golden';
import path from 'node:path';
import { testdata } from './testdata';

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

  it('gpu on a machine whose installed Vulkan drivers give no adapter (a fake icd.d like mesa-vulkan-drivers leaves) reports SwiftShader and says why', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'headlab-mesa-'));
    const icd = path.join(home, 'share', 'vulkan', 'icd.d');
    mkdirSync(icd, { recursive: true });
    writeFileSync(
      path.join(icd, 'radeon_icd.x86_64.json'),
      JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: path.join(home, 'libvulkan_radeon.so'), api_version: '1.3.0' } }),
    );
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      TMPDIR: home,
      XDG_DATA_DIRS: path.join(home, 'share'),
      XDG_CONFIG_DIRS: path.join(home, 'etc'),
    };
    const r = spawnSync(process.execPath, [bundle, 'gpu'], { cwd: root, encoding: 'utf8', timeout: 120_000, env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /headlab: the installed Vulkan drivers \(radeon_icd\.x86_64\.json\) give WebGPU no adapter; using Chromium's SwiftShader \(CPU\) instead/,
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ architecture: 'swiftshader', isFallbackAdapter: true });
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

  it('bench --attention times each attention kernel per length; --variant forces the matmul kernel, a bad one is refused', () => {
    const r = headlab('bench', '--json', '--sizes', '40', '--variant', 'wide', '--attention', '20');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.matmul.map((m: { variant: string }) => m.variant)).toEqual(['wide']);
    expect(out.attention.map((a: { variant: string }) => a.variant)).toEqual(['flash', 'workgroup', 'rows']);
    for (const a of out.attention) {
      expect(a).toMatchObject({ B: 1, T: 20, heads: 12, headDim: 64 });
      expect(a.gflops).toBeCloseTo((4 * 12 * 64 * (20 * 21)) / 2 / (a.ms * 1e6), 6);
    }
    const bad = headlab('bench', '--sizes', '33', '--variant', 'huge');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--variant must be one of wide, tiled, direct; got huge/);
  });

  it("bench --search times DHA's search per model after its calibration; a bad budget is refused", () => {
    const r = headlab('bench', '--json', '--sizes', '33', '--search', testdata('data/stories260K.bin'), '--budget', '0.5');
    expect(r.status, r.stderr).toBe(0);
    const [row] = JSON.parse(r.stdout).search;
    expect(row).toMatchObject({ model: 'stories260K.bin', budget: 0.5, calibrationTokens: 1024, runs: 3 });
    expect(row.searchSeconds).toBeGreaterThan(0);
    // Half of stories260K's 5 × 4 K heads and 5 × 4 V heads, shared across layers by the DP.
    const per = row.perLayer.split(' ').map((x: string) => x.split('/').map(Number));
    expect(per).toHaveLength(5);
    expect(per.reduce((a: number, [k]: number[]) => a + k, 0)).toBe(10);
    expect(per.reduce((a: number, [, v]: number[]) => a + v, 0)).toBe(10);
    const bad = headlab('bench', '--sizes', '33', '--search', testdata('data/stories260K.bin'), '--budget', '2');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--budget must be a fraction in \(0, 1\]/);
  });

  it('info prints the model card of a llama2.c checkpoint, finding tok512.bin beside it', () => {
    const r = headlab('info', testdata('data/stories260K.bin'));
    expect(r.status, r.stderr).toBe(0);
    const card = JSON.parse(r.stdout);
    expect(card).toMatchObject({ family: 'llama2c', layers: 5, heads: 8, headDim: 8, kvBytesPerToken: 1280, tokenizer: 'llama2c' });
    expect(card.kvHeads).toEqual(Array(5).fill({ k: 4, v: 4 }));
    expect(card.params).toBe(260_032);
  });

  it('info reads a Hugging Face folder, and one file of a sharded checkpoint', () => {
    const r = headlab('info', testdata('fixtures/hf/llama-gqa-bf16'));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      family: 'llama',
      heads: 4,
      kvHeads: [
        { k: 2, v: 2 },
        { k: 2, v: 2 },
      ],
      headDim: 16,
    });
    const s = headlab('info', testdata('fixtures/hf/llama-mha-sharded/model-00003-of-00017.safetensors'));
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).layers).toBe(3);
  });

  it('info on a bad file exits 1 with one line naming the file', () => {
    const r = headlab('info', testdata('data/tinystories_sample.txt'));
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^headlab: tinystories_sample\.txt: /);
    const m = headlab('info', '/nonexistent/model.bin');
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/no such file or folder/);
  });

  it('logits writes [B, T, V] F32 logits that match the golden ones', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'headlab-')), 'out.safetensors');
    const r = headlab('logits', testdata('fixtures/hf/gpt-neox'), '--input', testdata('fixtures/hf/gpt-neox/golden.safetensors'), '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const mine = await readSafetensorsHeader(await openAsBlob(out), out);
    const info = mine.tensors.get('logits')!;
    expect(info.dtype).toBe('F32');
    expect(info.shape).toEqual([2, 24, 320]);
    const got = await readFloatTensor(mine, info);
    const g = await golden(testdata('fixtures/hf/gpt-neox/golden.safetensors'));
    let d = 0;
    let m = 0;
    g.logits.forEach((v, i) => {
      d = Math.max(d, Math.abs(got[i] - v));
      m = Math.max(m, Math.abs(v));
    });
    expect(d / m).toBeLessThan(1e-4);
  });

  it('eval --json prints ppl, nll, tokens and seconds (stories260K on the sample: 3.5482 in transformers)', () => {
    const r = headlab('eval', testdata('data/stories260K.bin'), '--text', testdata('data/tinystories_sample.txt'), '--split', 'endoftext', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.tokens).toBe(1804);
    expect(Math.abs(out.ppl - 3.5482019774885667)).toBeLessThan(0.002);
    expect(out.nll).toBeCloseTo(Math.log(out.ppl) * out.tokens, 6);
    expect(out.seconds).toBeGreaterThan(0);
  });

  it('eval --kv-bits reads through a quantised cache and counts its bytes; a bad KV flag is named', () => {
    const args = ['eval', testdata('data/stories260K.bin'), '--text', testdata('data/tinystories_sample.txt'), '--split', 'endoftext', '--json'];
    const r = headlab(...args, '--kv-bits', '2', '--kv-residual', '0');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.kvQuant).toEqual({ bits: 2, group: 32, residual: 0, keyAxis: 'channel', keyRope: 'post', keepSink: false });
    expect(out.ppl).toBeGreaterThan(3.5482 * 1.001); // 2 bits with no exact window cost perplexity
    expect(out.kvCache.quantised).toBeGreaterThan(0);
    expect(out.kvCache.bytesPerToken16).toBeLessThan(640 / 2); // stories260K's 16-bit cache: 640 bytes/token
    const bad = headlab(...args, '--kv-bits', '5');
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('headlab: --kv-bits: KV bits must be one of 16, 8, 4, 3, 2; got 5');
    const alone = headlab(...args, '--key-rope', 'pre');
    expect(alone.status).toBe(2);
    expect(alone.stderr).toContain('--key-rope shapes a quantised KV cache: give --kv-bits 8|4|3|2 too');
  });

  it('eval --tokens reads input_ids [N, T] as N documents; --max-docs selects', () => {
    const r = headlab('eval', testdata('data/stories260K.bin'), '--tokens', testdata('fixtures/stories260K-golden.safetensors'), '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tokens).toBe(47);
    const s = headlab(
      'eval',
      testdata('data/stories260K.bin'),
      '--text',
      testdata('data/tinystories_val.txt'),
      '--split',
      'blank-lines',
      '--min-chars',
      '100',
      '--skip-docs',
      '3',
      '--max-docs',
      '2',
      '--json',
    );
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).documents).toBe(2);
    const bad = headlab('eval', testdata('data/stories260K.bin'), '--text', testdata('data/tinystories_sample.txt'), '--split', 'commas');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--split must be endoftext or blank-lines/);
  });

  it('generate streams a greedy continuation of the demo, as transformers computed it', () => {
    const ref: string = JSON.parse(readFileSync(testdata('data/demo/demo-mha-bytes-reference.json'), 'utf8')).greedy;
    const r = headlab('generate', testdata('data/demo/demo-mha-bytes.bin'), '--prompt', 'Once upon a time', '--tokens', '60');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trimEnd()).toBe(ref.trim().slice(0, 'Once upon a time'.length + 60));
    expect(r.stderr).toMatch(/tokens in the KV cache/);
  });

  it('similarity --json prints per layer the K and V head matrices (stories260K: 4 K heads, 4 V heads)', () => {
    const r = headlab(
      'similarity',
      testdata('data/stories260K.bin'),
      '--metric',
      'cka',
      '--text',
      testdata('data/tinystories_sample.txt'),
      '--max-tokens',
      '300',
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.metric).toBe('cka');
    expect(out.tokens).toBe(300);
    expect(out.layers).toHaveLength(5);
    for (const l of out.layers) {
      expect(l.k).toHaveLength(4);
      expect(l.v).toHaveLength(4);
      for (let i = 0; i < 4; i++) {
        expect(l.k[i][i]).toBeCloseTo(1, 5);
        for (const v of [...l.k[i], ...l.v[i]]) expect(v >= 0 && v <= 1).toBe(true);
      }
    }
    const w = headlab('similarity', testdata('data/tinystories-mha.bin'), '--metric', 'weight-cosine', '--json');
    expect(w.status, w.stderr).toBe(0);
    expect(JSON.parse(w.stdout).layers[0].k).toHaveLength(8);
    const bad = headlab('similarity', testdata('data/stories260K.bin'), '--metric', 'aligned');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/needs calibration data/);
  });

  it('fuse --json: mean-pool reproduces transformers (tinystories-mha, 50 %), and the written folder and model.bin evaluate the same', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'headlab-fuse-'));
    const ev = ['--eval-text', testdata('data/tinystories_sample.txt'), '--eval-split', 'endoftext'];
    const r = headlab('fuse', testdata('data/tinystories-mha.bin'), '--method', 'meanpool', '--kv-budget', '0.5', ...ev, '--out', out, '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.perLayer).toEqual([
      { k: 4, v: 4 },
      { k: 4, v: 4 },
      { k: 4, v: 4 },
      { k: 4, v: 4 },
    ]);
    expect(Math.abs(j.pplBefore - 3.6811025442520835)).toBeLessThan(0.002);
    expect(Math.abs(j.pplAfter - 25.32614159105713)).toBeLessThan(0.01);
    expect(j.kvBytesPerToken).toBe(j.kvBytesPerTokenBefore / 2);
    expect([j.trainSteps, j.trainTokens]).toEqual([0, 0]);
    expect(j.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'model.bin', 'tok512.bin', 'experiment.json']));
    const exp = JSON.parse(readFileSync(path.join(out, 'experiment.json'), 'utf8'));
    expect(exp.method).toBe('meanpool');
    expect(exp.source.modelHash).toMatch(/^[0-9a-f]{16}$/);
    for (const target of [out, path.join(out, 'model.bin')]) {
      const e = headlab('eval', target, '--text', testdata('data/tinystories_sample.txt'), '--split', 'endoftext', '--json');
      expect(e.status, e.stderr).toBe(0);
      expect(Math.abs(JSON.parse(e.stdout).ppl - j.pplAfter)).toBeLessThan(1e-4);
    }
  });

  it('fuse --method dha trains a few steps and writes a decoupled model that eval reads; bad budgets are refused', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'headlab-fuse-dha-'));
    const r = headlab(
      'fuse',
      testdata('data/stories260K.bin'),
      '--method',
      'dha',
      '--kv-budget',
      '0.25',
      '--text',
      testdata('data/tinystories_sample.txt'),
      '--max-tokens',
      '400',
      '--steps',
      '2',
      '--tokens-per-step',
      '64',
      '--eval-tokens',
      testdata('fixtures/stories260K-golden.safetensors'),
      '--out',
      out,
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.perLayer.reduce((s: number, p: { k: number }) => s + p.k, 0)).toBe(5);
    expect([j.trainSteps, j.trainTokens, j.calibrationTokens]).toEqual([2, 128, 400]);
    expect(j.pplAfter).toBeGreaterThan(0);
    const e = headlab('eval', out, '--tokens', testdata('fixtures/stories260K-golden.safetensors'), '--json');
    expect(e.status, e.stderr).toBe(0);
    expect(Math.abs(JSON.parse(e.stdout).ppl - j.pplAfter)).toBeLessThan(1e-4);
    const bad = headlab('fuse', testdata('data/tinystories-mha.bin'), '--method', 'meanpool', '--kv-budget', '1.5', '--out', out);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--kv-budget must be a fraction in \(0, 1\]/);
    const uneven = headlab('fuse', testdata('data/tinystories-mha.bin'), '--method', 'meanpool', '--kv-budget', '0.4', '--out', out);
    expect(uneven.status).not.toBe(0);
    expect(uneven.stderr).toMatch(/equal group sizes need each layer's head count to divide its 8 K heads.*choose free group sizes or a budget of/);
    const noText = headlab('fuse', testdata('data/tinystories-mha.bin'), '--method', 'aligned', '--kv-budget', '0.5', '--out', out);
    expect(noText.status).toBe(2);
    expect(noText.stderr).toMatch(/needs calibration text/);
  });

  it(
    "fuse: the aligned merge renormalises unless --no-renorm; every recipe choice on top of a preset; DHA's own tokens come out of the shared training budget",
    { timeout: 300_000 },
    () => {
      const base = [
        '--text',
        testdata('data/tinystories_sample.txt'),
        '--max-tokens',
        '400',
        '--eval-tokens',
        testdata('fixtures/stories260K-golden.safetensors'),
        '--json',
      ];
      const fuse = (...a: string[]) => {
        const r = headlab(
          'fuse',
          testdata('data/stories260K.bin'),
          '--kv-budget',
          '0.5',
          ...a,
          ...base,
          '--out',
          mkdtempSync(path.join(tmpdir(), 'headlab-switch-')),
        );
        expect(r.status, r.stderr).toBe(0);
        return JSON.parse(r.stdout);
      };
      const renorm = fuse('--method', 'aligned');
      const plain = fuse('--method', 'aligned', '--no-renorm');
      expect([renorm.recipe.renormalise, plain.recipe.renormalise]).toEqual(['on', 'off']);
      expect([renorm.label, plain.label]).toEqual(['aligned merge', 'aligned merge (no renorm)']);
      expect(renorm.pplAfter).not.toBe(plain.pplAfter);
      expect(
        headlab(
          'fuse',
          testdata('data/stories260K.bin'),
          '--method',
          'aligned',
          '--kv-budget',
          '0.5',
          '--renorm',
          'on',
          '--no-renorm',
          ...base,
          '--out',
          '/tmp/x',
        ).stderr,
      ).toMatch(/contradict/);
      // joint: one budget of 20 K+V heads (5 layers × 4 × 2 × 50 %), split by cost; uniform: 2 and 2 in every layer
      const joint = fuse('--method', 'dha', '--steps', '0', '--kv-split', 'joint');
      expect(joint).toMatchObject({ recipe: { kvSplit: 'joint', allocation: 'search' }, label: 'DHA (joint K+V, 0 own steps)' });
      expect(joint.kTotal + joint.vTotal).toBe(20);
      const uniform = fuse('--method', 'dha', '--steps', '0', '--allocation', 'uniform');
      expect(uniform.perLayer.every((p: { k: number; v: number }) => p.k === 2 && p.v === 2)).toBe(true);
      expect([uniform.kTotal, uniform.vTotal]).toEqual([10, 10]);
      // any choice of the recipe on top of a preset: the aligned merge with separate K and V groups, echoed in full
      const separate = fuse('--method', 'aligned', '--kv-groups', 'separate');
      expect(separate.recipe).toMatchObject({ family: 'heads', preset: 'aligned', grouping: 'cost', align: 'on', kvGroups: 'separate', groupSizes: 'equal' });
      expect(separate.label).toBe('aligned merge (separate K/V groups)');
      expect(separate.perLayer.every((p: { k: number; v: number }) => p.k === 2 && p.v === 2)).toBe(true);
      const clash = headlab(
        'fuse',
        testdata('data/stories260K.bin'),
        '--kv-budget',
        '0.5',
        '--method',
        'aligned',
        '--kv-split',
        'joint',
        ...base,
        '--out',
        '/tmp/x',
      );
      expect(clash.status).toBe(2);
      expect(clash.stderr).toMatch(/aligned merge \(joint K\+V\) at 0.5: a joint K\+V budget needs separate K\/V groups/);
      // 2 own steps of 64 tokens and a budget of 3 steps of 2 × 32: DHA trains 2 steps end to end, 192 tokens in all
      const train = ['--train-steps', '3', '--train-batch', '2', '--train-seq', '32', '--train-eval-every', '1'];
      const dha = fuse('--method', 'dha', '--steps', '2', '--tokens-per-step', '64', '--seq-len', '32', ...train);
      expect([dha.trainTokens, dha.recoverySteps, dha.trainSteps]).toEqual([192, 1, 3]);
      expect(dha.curve.map((p: { tokens: number }) => p.tokens)).toEqual([128, 192]);
      const mp = fuse('--method', 'meanpool', ...train);
      expect([mp.trainTokens, mp.recoverySteps]).toEqual([192, 3]);
      const over = headlab(
        'fuse',
        testdata('data/stories260K.bin'),
        '--kv-budget',
        '0.5',
        '--method',
        'dha',
        '--steps',
        '4',
        '--tokens-per-step',
        '64',
        '--seq-len',
        '32',
        ...train,
        ...base,
        '--out',
        '/tmp/x',
      );
      expect(over.status).not.toBe(0);
      expect(over.stderr).toMatch(/exceeds the training budget of 3 steps .* fewer own steps/);
      const bad = headlab('fuse', testdata('data/stories260K.bin'), '--kv-budget', '0.5', '--method', 'dha', '--kv-split', 'half', ...base, '--out', '/tmp/x');
      expect(bad.stderr).toMatch(/--kv-split must be one of equal, joint; got half/);
      // MLA at 50 %: 32 values per layer (4 K + 4 V heads × 8 × 50 %) = half to RoPE, 2 rotary pairs × 2 dims × 4 K heads, and a latent of 16
      const mla = fuse('--method', 'mla', '--rope-select', 'high', '--latent-init', 'weights', ...train);
      expect(mla).toMatchObject({ method: 'mla', recipe: { ropeSelect: 'high', latentInit: 'weights' }, trainTokens: 192, recoverySteps: 3 });
      expect(mla.latent.map((l: { rank: number; ropePairs: number }) => [l.rank, l.ropePairs])).toEqual(Array(5).fill([16, 2]));
      expect(mla.kvBytesPerToken).toBe(mla.kvBytesPerTokenBefore / 2);
      const noRoom = headlab(
        'fuse',
        testdata('data/stories260K.bin'),
        '--kv-budget',
        '0.25',
        '--method',
        'mla',
        '--rope-pairs',
        '2',
        ...base,
        '--out',
        '/tmp/x',
      );
      expect(noRoom.status).not.toBe(0);
      expect(noRoom.stderr).toMatch(/leave no room for a latent: keep fewer rotary pairs \(--rope-pairs\)/);
    },
  );

  it('ladder --json: consecutive rungs differ in one recipe choice, each trained on the same tokens for every seed', { timeout: 300_000 }, () => {
    const jsonl = path.join(mkdtempSync(path.join(tmpdir(), 'headlab-ladder-')), 'runs.jsonl');
    const r = headlab(
      'ladder',
      testdata('data/stories260K.bin'),
      '--kv-budget',
      '0.5',
      '--text',
      testdata('data/tinystories_sample.txt'),
      '--max-tokens',
      '400',
      '--eval-tokens',
      testdata('fixtures/stories260K-golden.safetensors'),
      '--train-steps',
      '1',
      '--train-batch',
      '2',
      '--train-seq',
      '32',
      '--seeds',
      '2',
      '--only',
      '^(alignment|renormalisation)$',
      '--no-latent',
      '--jsonl',
      jsonl,
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rungs.map((x: { name: string }) => x.name)).toEqual(['alignment', 'renormalisation']);
    expect(j.latent).toBeNull();
    const [a, b] = j.rungs;
    expect(b.recipe).toMatchObject({ preset: 'aligned', renormalise: 'on' });
    expect(a.recipe).toMatchObject({ align: 'on', renormalise: 'off' });
    expect(b.label).toBe('aligned merge');
    for (const x of j.rungs) {
      expect(x.trained.values).toHaveLength(2);
      expect(x.trained.min).toBeLessThanOrEqual(x.trained.mean);
      expect(x.tokens).toBe(64);
    }
    expect(b.effect.delta).toBeCloseTo(b.trained.mean - a.trained.mean, 12);
    expect(readFileSync(jsonl, 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it("fuse --train-steps trains the converted model toward the original; the written folder evaluates to the curve's last perplexity", () => {
    const out = mkdtempSync(path.join(tmpdir(), 'headlab-fuse-train-'));
    const ev = ['--eval-tokens', testdata('fixtures/stories260K-golden.safetensors')];
    const r = headlab(
      'fuse',
      testdata('data/stories260K.bin'),
      '--method',
      'meanpool',
      '--kv-budget',
      '0.5',
      '--text',
      testdata('data/tinystories_sample.txt'),
      '--train-steps',
      '3',
      '--train-batch',
      '2',
      '--train-seq',
      '32',
      '--train-lr',
      '0.003',
      '--train-eval-every',
      '2',
      ...ev,
      '--out',
      out,
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/train 3\/3 loss/); // progress reaches stderr in --json mode too
    const j = JSON.parse(r.stdout);
    expect([j.trainSteps, j.trainTokens]).toEqual([3, 192]);
    expect(j.curve.map((p: { step: number }) => p.step)).toEqual([0, 1, 2, 3]);
    expect(j.curve.map((p: { ppl: number | null }) => p.ppl !== null)).toEqual([true, false, true, true]);
    expect(j.curve[3].tokens).toBe(192);
    expect(j.curve[1].loss).toBeGreaterThan(j.curve[3].loss);
    expect(j.pplAfter).toBe(j.curve[3].ppl);
    expect(j.pplAfter).toBeLessThan(j.curve[0].ppl);
    const exp = JSON.parse(readFileSync(path.join(out, 'experiment.json'), 'utf8'));
    expect(exp.train).toMatchObject({ steps: 3, batch: 2, seqLen: 32, lr: 0.003 });
    const e = headlab('eval', out, ...ev.map((a) => a.replace('--eval-', '--')), '--json');
    expect(e.status, e.stderr).toBe(0);
    expect(Math.abs(JSON.parse(e.stdout).ppl - j.pplAfter)).toBeLessThan(1e-4);
  });

  it('train continues any checkpoint (CE without a teacher, KL with one) and writes it back', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'headlab-train-'));
    const data = ['--text', testdata('data/tinystories_sample.txt'), '--eval-tokens', testdata('fixtures/stories260K-golden.safetensors')];
    const r = headlab(
      'train',
      testdata('data/stories260K.bin'),
      ...data,
      '--steps',
      '2',
      '--batch',
      '2',
      '--seq',
      '24',
      '--params',
      'kv',
      '--out',
      out,
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ steps: 2, tokens: 96, loss: 'ce', params: 'kv', microBatch: 2 });
    expect(j.memory.total).toBeGreaterThan(j.memory.activations);
    expect(j.curve).toHaveLength(3);
    const e = headlab('eval', path.join(out, 'model.bin'), '--tokens', testdata('fixtures/stories260K-golden.safetensors'), '--json');
    expect(e.status, e.stderr).toBe(0);
    expect(Math.abs(JSON.parse(e.stdout).ppl - j.pplAfter)).toBeLessThan(1e-4);
    // Distillation from a teacher: the trained folder as the student, the original as the teacher.
    const k = headlab(
      'train',
      out,
      ...data,
      '--teacher',
      testdata('data/stories260K.bin'),
      '--steps',
      '1',
      '--batch',
      '1',
      '--seq',
      '16',
      '--out',
      mkdtempSync(path.join(tmpdir(), 'headlab-train-kl-')),
      '--json',
    );
    expect(k.status, k.stderr).toBe(0);
    expect(JSON.parse(k.stdout).loss).toBe('kl');
    const noTeacher = headlab('train', testdata('data/stories260K.bin'), ...data, '--steps', '1', '--loss', 'kl', '--out', out);
    expect(noTeacher.status).toBe(2);
    expect(noTeacher.stderr).toMatch(/--loss kl distils from a teacher: give --teacher MODEL/);
  });

  it('a bad command or flag exits non-zero with one clear line on stderr', () => {
    const r = headlab('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^headlab: unknown command "frobnicate"; commands: info, logits, eval, .*train/)]);
    const s = headlab('bench', '--sizes', 'abc');
    expect(s.status).toBe(2);
    expect(s.stderr.split('\n')[0]).toMatch(/--sizes: "abc" is not a list of positive integers/);
  });

  it.each([
    ['info', ['M', '--tokeniser', 'x'], /info: unknown flag --tokeniser; info takes --tokenizer$/],
    ['logits', ['M', '--inputs', 'x'], /logits: unknown flag --inputs; logits takes --input --out --tokenizer$/],
    [
      'eval',
      ['M', '--max-dcs', '1'],
      /eval: unknown flag --max-dcs; eval takes --text --tokens --split --min-chars --skip-docs --max-docs --tokenizer --kv-bits --kv-group --kv-residual --key-axis --key-rope --json --keep-sink$/,
    ],
    ['generate', ['M', '--temp', '1'], /generate: unknown flag --temp; generate takes --prompt .*--top-k --tokenizer --kv-bits .*--key-rope --keep-sink$/],
    ['similarity', ['M', '--metrics', 'cka'], /similarity: unknown flag --metrics; similarity takes --metric/],
    [
      'fuse',
      ['M', '--train-step', '300'],
      /fuse: unknown flag --train-step; fuse takes --method .*--kv-groups .*--train-steps .*--kv-bits .*--no-renorm --json --keep-sink$/,
    ],
    ['train', ['M', '--teachr', 'x'], /train: unknown flag --teachr; train takes --out --tokenizer --teacher/],
    ['gpu', ['--json'], /gpu: unknown flag --json; gpu takes no flags$/],
    ['selftest', ['--fast'], /selftest: unknown flag --fast; selftest takes --json$/],
    ['bench', ['--size', '64'], /bench: unknown flag --size; bench takes --sizes/],
    ['eval', ['M', '--json=yes'], /eval: --json takes no value \(got "yes"\)$/],
    ['eval', ['M', '--max-docs'], /eval: --max-docs needs a value$/],
    ['eval', ['M', 'N', '--json'], /eval: unexpected argument "N" \(one model path only\)/],
    ['train', ['M', '--steps', '2', '--steps', '3'], /--steps is given twice$/],
    [
      'fuse',
      [testdata('data/stories260K.bin'), '--method', 'meanpool', '--kv-budget', '0.5', '--train-steps', 'ten', '--out', '/tmp/x'],
      /--train-steps: "ten" is not a non-negative integer$/,
    ],
    [
      'train',
      [testdata('data/stories260K.bin'), '--text', testdata('data/tinystories_sample.txt'), '--steps', '1', '--params', 'mlp', '--out', '/tmp/x'],
      /--params must be one of all, attention, kv; got mlp$/,
    ],
  ] as const)('%s refuses %j with one line and exit code 2', (command, args, message) => {
    const r = headlab(command, ...args);
    expect(r.status).toBe(2);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !/^CPU fallback adapter/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^headlab: /);
    expect(lines[0]).toMatch(message);
  });
});
