// Perplexity and generation in the page, on WebGPU in headless Chromium.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { testdata } from '../test/testdata';

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
});

test('perplexity of the demo on its sample stories, with progress and a result', async ({ page }) => {
  await page.getByTestId('ppl-max-docs').fill('2');
  await page.getByTestId('ppl-run').click();
  await expect(page.getByTestId('ppl-result')).toBeVisible({ timeout: 120_000 });
  const value = Number(await page.getByTestId('ppl-value').textContent());
  // the demo's per-byte perplexity on its stories is 1.61 over all 120 (transformers); two stories land nearby
  expect(value).toBeGreaterThan(1.2);
  expect(value).toBeLessThan(2.5);
  await expect(page.getByTestId('ppl-result')).toContainText('2 documents');
});

test('greedy generation streams the continuation transformers computed; two models side by side', async ({ page }) => {
  const ref: string = JSON.parse(readFileSync(testdata('data/demo/demo-mha-bytes-reference.json'), 'utf8')).greedy;
  await page.getByTestId('gen-tokens').fill('30');
  await page.getByTestId('gen-run').click();
  const text = page.getByTestId('continuation-text');
  await expect(text).toHaveText(ref.trim().slice(0, 'Once upon a time'.length + 30), { timeout: 120_000 });

  await page.getByTestId('file-input').setInputFiles([testdata('data/stories260K.bin'), testdata('data/tok512.bin')]);
  await expect(page.getByTestId('card-name')).toContainText('stories260K.bin');
  await page.getByLabel(/side by side/).check();
  await page.getByTestId('gen-tokens').fill('12');
  await page.getByTestId('gen-run').click();
  await expect(page.getByTestId('continuation')).toHaveCount(2);
  await expect(page.getByTestId('continuation').nth(1)).toContainText('demo-mha-bytes');
  await expect(page.getByTestId('continuation').nth(1).getByTestId('continuation-text')).toHaveText(ref.trim().slice(0, 'Once upon a time'.length + 12), {
    timeout: 120_000,
  });
});

test('a quantised KV cache: perplexity and generation through 2 bits, its bytes named', async ({ page }) => {
  await page.getByTestId('ppl-max-docs').fill('2');
  await page.getByTestId('ppl-run').click();
  await expect(page.getByTestId('ppl-cache')).toContainText('full-precision cache', { timeout: 120_000 });
  const exact = Number(await page.getByTestId('ppl-value').textContent());
  await page.getByTestId('kv-bits').selectOption('2');
  await expect(page.getByTestId('kv-cache-label')).toContainText('2-bit KV (keys per channel after rotary, groups of 32, 32 recent exact)');
  await page.getByTestId('kv-residual').fill('0');
  await page.getByTestId('ppl-run').click();
  await expect(page.getByTestId('ppl-cache')).toContainText('2-bit KV', { timeout: 120_000 });
  await expect(page.getByTestId('ppl-cache')).toContainText('of the 16-bit cache');
  const quantised = Number(await page.getByTestId('ppl-value').textContent());
  // the demo's stories are a few hundred bytes long: most positions are quantised, and 2 bits cost perplexity
  expect(quantised).toBeGreaterThan(exact * 1.01);
  await page.getByTestId('gen-tokens').fill('40');
  await page.getByTestId('gen-run').click();
  await expect(page.getByTestId('continuation')).toContainText(/\d+ of them quantised/, { timeout: 120_000 });
});

test('a conversion through the chosen KV cache: fewer heads, then fewer bits, on one bytes axis', async ({ page }) => {
  // a 4-bit cache with no exact window, chosen once in the Evaluate panel, is what every panel evaluates through
  await page.getByTestId('kv-bits').selectOption('4');
  await page.getByTestId('kv-residual').fill('0');
  // the head layout says what a token costs once quantised: 4 layers × (128 K + 128 V values) at 5 bits (4-bit codes + scales)
  await expect(page.getByTestId('model-head-layout-kv-quant')).toContainText('· 4-bit: 640 B per quantised token');
  const panel = page.getByTestId('fusion-panel');
  await panel.getByTestId('fusion-cal-tokens').fill('512');
  await panel.getByTestId('fusion-eval-docs').fill('3');
  await panel.getByTestId('fusion-method-meanpool').check();
  await panel.getByTestId('fusion-budget-50').check();
  await panel.getByTestId('fusion-run').click();
  await expect(panel.getByTestId('fusion-row')).toHaveCount(1, { timeout: 240_000 });
  await expect(panel.getByTestId('fusion-row-kv-quant')).toContainText(/^4-bit: [\d,]+ → [\d,]+, ppl \d+\.\d{3}$/);
  const compare = page.getByTestId('compare-panel');
  await expect(compare.getByTestId('pareto-legend').filter({ hasText: 'through a quantised cache' })).toHaveCount(1);
  const kv = compare.locator('[data-testid="pareto-point"][data-group="kv"]');
  await expect(kv).toHaveCount(2); // the converted model and the original through the cache
  const plain = compare.locator('[data-testid="pareto-point"][data-group="meanpool"]');
  const f32 = Number(await plain.getAttribute('data-x'));
  expect(f32).toBe(2048); // mean-pool at 50 % of the demo's 4 KiB per token, in float32
  await compare.getByTestId('pareto-unit').selectOption('16');
  await expect(plain).toHaveAttribute('data-x', '1024');
  // 4-bit codes with a 16-bit minimum and scale per group of 32: 5 bits a value once quantised, under half of 16 bits
  const quantised = Number(await kv.first().getAttribute('data-x'));
  expect(quantised).toBeLessThan(1024 / 2);
  expect(quantised).toBeGreaterThan(1024 * (5 / 16) * 0.99);
});

test('the race evaluates each trained lane through the chosen KV cache too', async ({ page }) => {
  await page.getByTestId('kv-bits').selectOption('2');
  const panel = page.getByTestId('race-panel');
  await expect(panel).toContainText('also evaluated through the Evaluate panel’s 2-bit KV');
  for (const m of ['aligned', 'dha', 'dha-e2e', 'mla']) await panel.getByTestId(`race-method-${m}`).uncheck();
  await panel.getByTestId('race-train-steps').fill('1');
  await panel.getByTestId('race-train-batch').fill('2');
  await panel.getByTestId('race-cal-tokens').fill('512');
  await panel.getByTestId('race-eval-docs').fill('2');
  await panel.getByTestId('race-run').click();
  const row = panel.getByTestId('race-row');
  await expect(row).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await expect(panel.getByTestId('race-kv-header')).toContainText('through the 2-bit KV cache');
  await expect(row.getByTestId('race-kv')).toHaveText(/^\d+\.\d{3} at [\d,]+ B\/token$/);
  await expect(panel.getByTestId('race-kv-note')).toContainText('the original');
});
