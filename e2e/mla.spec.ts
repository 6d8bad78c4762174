// Latent KV (MLA) in the page, on the built-in demo (4 layers × 8 heads of 16 dims, MHA) in headless Chromium: the Fuse
// panel offers it as a fourth method with its own controls; a budget too small for the rotary pairs asked for is refused
// with the core's message in the page's words, no row, no crash; at 25 % without training a row names MLA with its pair
// choice and latent fit, shows each layer's latent width + kept rotary dims, the KV bytes and a perplexity; the result's
// head layout draws one latent block per layer and each K head's rotary part; the Compare chart plots it in MLA's colour at
// its bytes; with "automatic" unticked, 0 rotary pairs gives a latent of the whole budget; its files load back as a model
// whose card states the latent. The workload is tiny (SwiftShader is slow).
import { expect, test, type Locator, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';

async function download(page: Page, button: Locator): Promise<{ name: string; bytes: Buffer }> {
  const pending = page.waitForEvent('download');
  await button.click();
  const file = await pending;
  return { name: file.suggestedFilename(), bytes: readFileSync(await file.path()) };
}

// 25 % of 8 K + 8 V heads × 16 dims = 64 values per layer and token: 8 K heads × 2 rotary pairs (4 dims) and a latent of 32
const LATENT = 'latent KV: d_c = 32, r = 2 rotary pairs per K head, 1,024 bytes/token';

test('latent KV (MLA) on the demo at 25 %: controls, a refused budget, a result row, its layout, the Pareto point, the card', async ({ page }) => {
  test.setTimeout(240_000);
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  await expect(page.getByTestId('card-latent')).toHaveCount(0); // the demo caches K and V heads
  const panel = page.getByTestId('fusion-panel');
  await panel.getByTestId('fusion-cal-tokens').fill('512');
  await panel.getByTestId('fusion-eval-docs').fill('3');
  await expect(panel.getByTestId('fusion-train-steps')).toHaveValue('0');

  // MLA's controls appear only with MLA, each with a tooltip
  await expect(panel.getByTestId('fusion-mla-fields')).toHaveCount(0);
  await panel.getByTestId('fusion-method-mla').check();
  const fields = panel.getByTestId('fusion-mla-fields');
  await expect(fields).toBeVisible();
  await expect(panel.getByTestId('fusion-rope-select')).toHaveValue('norm');
  await expect(panel.getByTestId('fusion-latent-init')).toHaveValue('activations');
  await expect(panel.getByTestId('fusion-rope-auto')).toBeChecked(); // rotary pairs chosen by the budget…
  await expect(panel.getByTestId('fusion-rope-pairs')).toBeDisabled(); // …so the count waits until "automatic" is unticked
  await expect(panel.getByTestId('fusion-rope-select')).toHaveAttribute('title', /rotary pair/);
  await expect(panel.getByTestId('fusion-recipe')).toHaveCount(0); // the head-sharing recipe is not the latent's

  // 1 % leaves 3 values per layer: no room for 8 K heads × 2 rotary dims — the core's message, worded for the page
  await panel.getByTestId('fusion-budget-custom').check();
  await panel.getByTestId('fusion-budget-pct').fill('1');
  await panel.getByTestId('fusion-rope-auto').uncheck();
  await panel.getByTestId('fusion-rope-pairs').fill('1');
  await panel.getByTestId('fusion-run').click();
  const error = panel.getByTestId('fusion-error');
  await expect(error).toContainText('no room for a latent', { timeout: 120_000 });
  await expect(error).toContainText('the “rotary pairs” control');
  await expect(error).not.toContainText('--rope-pairs');
  await expect(panel.getByTestId('fusion-results')).toHaveCount(0);

  // 25 %, pairs automatic, no training
  const t0 = Date.now();
  await panel.getByTestId('fusion-rope-auto').check();
  await panel.getByTestId('fusion-budget-25').check();
  await panel.getByTestId('fusion-run').click();
  const row = panel.getByTestId('fusion-row');
  await expect(row).toHaveCount(1, { timeout: 180_000 });
  console.log(`MLA run: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await expect(error).toHaveCount(0);
  await expect(row).toHaveAttribute('data-method', 'mla');
  await expect(row).toContainText('MLA (norm pairs, activations)');
  await expect(row.getByTestId('fusion-row-counts')).toHaveText('32+32 32+32 32+32 32+32');
  await expect(row.getByTestId('fusion-row-counts')).toHaveAttribute('title', /layer 0: a latent of 32 values \+ 8 K heads × 2 rotary pairs/);
  await expect(row.getByTestId('fusion-row-kv')).toHaveText('4,096 → 1,024');
  const ppl = row.getByTestId('fusion-row-ppl');
  const before = Number(await ppl.getAttribute('data-before'));
  const after = Number(await ppl.getAttribute('data-after'));
  expect(before).toBeGreaterThan(1.1);
  expect(Number.isFinite(after)).toBe(true);
  expect(after).toBeGreaterThan(1);
  await expect(ppl).toContainText(`${before.toFixed(3)} → ${after.toFixed(3)}`);
  await expect(panel.getByTestId('fusion-latent-live')).toContainText('32+32 32+32 32+32 32+32');

  // the result's head layout: per layer one latent block shared by all 8 query heads and 8 rotary parts, no K/V heads
  const layout = panel.getByTestId('fusion-head-layout');
  await expect(layout.getByTestId('fusion-head-layout-kv')).toContainText(LATENT);
  await expect(layout.getByTestId('fusion-head-layout-kv')).toHaveAttribute('data-bytes', '1024');
  const map = layout.getByTestId('head-map');
  await expect(map.getByTestId('head-map-latent')).toHaveCount(4);
  await expect(map.getByTestId('head-map-rope-head')).toHaveCount(32);
  await expect(map.getByTestId('head-map-kv-head')).toHaveCount(0);
  await expect(map.locator('[data-testid="head-map-layer"][data-layer="2"]')).toHaveAttribute('data-latent', '32');
  await expect(map.locator('[data-testid="head-map-link"][data-kind="latent"]')).toHaveCount(32);

  // the Compare chart: MLA's point at its bytes, in MLA's colour, with a legend entry
  const compare = page.getByTestId('compare-panel');
  const point = compare.locator('[data-testid="pareto-point"][data-group="mla"]');
  await expect(point).toHaveCount(1);
  await expect(point).toHaveAttribute('data-x', '1024');
  await expect(point).toHaveAttribute('fill', '#CC79A7');
  await expect(compare.getByTestId('pareto-legend').filter({ hasText: 'latent KV (MLA)' })).toHaveCount(1);

  // rotary pairs by hand: 0 keeps no position in the keys and gives the whole budget to the latent (64 values a layer)
  await panel.getByTestId('fusion-rope-auto').uncheck();
  await panel.getByTestId('fusion-rope-pairs').fill('0');
  await panel.getByTestId('fusion-run').click();
  await expect(row).toHaveCount(2, { timeout: 180_000 });
  await expect(error).toHaveCount(0);
  await expect(row.nth(1)).toContainText('MLA (no rotary pairs, activations)');
  await expect(row.nth(1).getByTestId('fusion-row-counts')).toHaveText('64+0 64+0 64+0 64+0');
  await expect(row.nth(1).getByTestId('fusion-row-kv')).toHaveText('4,096 → 1,024');

  // its files load back as a model whose card and head layout show the latent
  const actions = panel.getByTestId('fusion-row-actions').nth(0);
  await expect(actions.getByTestId('fusion-download-model.bin')).toHaveCount(0); // llama2.c cannot hold a latent
  const cfg = await download(page, actions.getByTestId('fusion-download-config.json'));
  expect(JSON.parse(cfg.bytes.toString('utf8')).model_type).toBe('headlab-mla');
  const weights = await download(page, actions.getByTestId('fusion-download-model.safetensors'));
  const tok = await download(page, actions.getByTestId('fusion-download-tok259.bin'));
  await page.getByTestId('file-input').setInputFiles([cfg, weights, tok].map((f) => ({ name: f.name, mimeType: 'application/octet-stream', buffer: f.bytes })));
  await expect(page.getByTestId('card-name')).toContainText('config.json');
  await expect(page.getByTestId('card-latent')).toHaveText(LATENT);
  await expect(page.getByTestId('card-kv-bytes')).toContainText('1.00 KiB');
  await expect(page.getByTestId('model-head-layout').getByTestId('head-map-latent')).toHaveCount(4);
});
