// The page on WebGPU in headless Chromium: the GPU panel shows a real adapter, a matmul computed on the page's GPU device
// matches a reference computed here, and the kernel self-test passes in the compute core's Web Worker and on the page.
import { expect, test } from '@playwright/test';
import { matmulRef, randomArray, relativeError } from '../src/reference/linalg';
import type { MatmulShape } from '../src/linalg/matmulShape';
import type { PageApi } from '../src/lab/pageApi';

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
});

test('the GPU panel shows the adapter, whether it is a fallback, and its limits', async ({ page }) => {
  const panel = page.getByTestId('gpu-panel');
  await expect(panel.getByTestId('gpu-error')).toHaveCount(0);
  await expect(panel.getByTestId('adapter-vendor')).not.toBeEmpty();
  const vendor = await panel.getByTestId('adapter-vendor').textContent();
  expect(vendor).not.toBe('unknown');
  await expect(panel.getByTestId('adapter-fallback')).toContainText(/yes|no/);
  await expect(panel.getByTestId('limit-maxStorageBufferBindingSize')).toContainText(/iB/);
  await expect(panel.getByTestId('limit-maxComputeInvocationsPerWorkgroup')).toHaveText(/\d/);
  const adapter = await page.evaluate(() => (globalThis as unknown as { headlab: PageApi }).headlab.adapter());
  expect(adapter).not.toBeNull();
  expect(adapter!.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
});

test('a matmul computed with WebGPU in the page matches a float64 reference', async ({ page }) => {
  await expect(page.getByTestId('adapter-vendor')).not.toBeEmpty();
  const shapes: MatmulShape[] = [
    { M: 33, N: 130, K: 7 },
    { M: 70, N: 33, K: 130, transB: true },
    { M: 7, N: 9, K: 33, transA: true, batch: 3 },
  ];
  for (const variant of ['tiled', 'direct'] as const) {
    for (const [i, s] of shapes.entries()) {
      const batch = s.batch ?? 1;
      const a = Array.from(randomArray(batch * s.M * s.K, 10 + i));
      const b = Array.from(randomArray(batch * s.K * s.N, 20 + i));
      const out = await page.evaluate(([a, b, s, v]) => (globalThis as unknown as { headlab: PageApi }).headlab.matmul(a, b, s, v), [
        a,
        b,
        s,
        variant,
      ] as const);
      expect(out).toHaveLength(batch * s.M * s.N);
      expect(relativeError(out, matmulRef(a, b, s)), `${variant} ${JSON.stringify(s)}`).toBeLessThan(1e-5);
    }
  }
});

test('the kernel self-test passes in the compute core (a Web Worker) and on the page, from the keyboard', async ({ page }) => {
  const run = page.getByTestId('selftest-run');
  await expect(run).toBeEnabled();
  await run.focus();
  await page.keyboard.press('Enter');
  const summary = page.getByTestId('selftest-summary');
  await expect(summary).toContainText(/(\d+) of \1 kernels pass \(in the worker\)/);
  const rows = page.getByTestId('selftest-row');
  expect(await rows.count()).toBeGreaterThanOrEqual(10);
  await expect(page.locator('[data-testid="selftest-row"][data-pass="false"]')).toHaveCount(0);
  for (const text of await page.getByTestId('selftest-relerror').allTextContents()) expect(Number(text)).toBeLessThan(1e-5);

  await page.getByTestId('selftest-run-page').click();
  await expect(summary).toContainText(/(\d+) of \1 kernels pass \(in the page\)/);
  await expect(page.locator('[data-testid="selftest-row"][data-pass="false"]')).toHaveCount(0);
});
