import { expect, it } from 'vitest';
import { gpu } from './gpu-context';
import { runSelfTest, selfTestCases, SELFTEST_TOLERANCE } from '../src/gpu/selftest';

it('the self-test of the GPU panel passes every kernel within tolerance', async () => {
  const rt = await gpu();
  const rows = [];
  for await (const r of runSelfTest(rt)) rows.push(r);
  expect(rows).toHaveLength(selfTestCases().length);
  for (const r of rows) {
    expect(r.relError, `${r.kernel} ${r.shape}`).toBeLessThan(SELFTEST_TOLERANCE);
    expect(r.pass).toBe(true);
  }
  expect(new Set(rows.map((r) => r.kernel))).toEqual(
    new Set([
      'matmul',
      'matmul (wide)',
      'matmul (tiled)',
      'attention (flash)',
      'attention (workgroup)',
      'attention (rows)',
      'attention backward (flash)',
      'row sum',
      'row max',
      'softmax',
      'silu',
      'gelu_tanh',
      'gelu_erf',
      'exp',
      'add',
      'mul',
    ]),
  );
});
