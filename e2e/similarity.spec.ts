// Head similarity in the page: stories260K, CKA on the built-in sample; the grid shows 5 layers × {K, V} and a cell's
// tooltip gives the head pair and value; then the views a learner uses: metric definitions, Q heads, clustered vs original
// head order, redundancy bars, a layer opened large (mouse and keyboard), and SVG/PNG/JSON exports.
import { expect, test, type Download, type Locator, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { testdata } from '../test/testdata';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

async function titles(map: Locator): Promise<string[]> {
  return map.getByTestId('heatmap-cell').locator('title').allTextContents();
}

/** Parses an SVG file in the page (DOMParser): whether it is well-formed XML, its root, and how many rects it holds. */
async function parseSvg(page: Page, text: string) {
  return page.evaluate((t) => {
    const doc = new DOMParser().parseFromString(t, 'image/svg+xml');
    return {
      error: doc.getElementsByTagName('parsererror').length > 0,
      root: doc.documentElement.nodeName,
      ns: doc.documentElement.namespaceURI,
      rects: doc.getElementsByTagName('rect').length,
      width: Number(doc.documentElement.getAttribute('width')),
      focusRings: doc.querySelectorAll('[data-no-export]').length,
    };
  }, text);
}

async function saved(page: Page, click: () => Promise<void>): Promise<{ file: Download; bytes: Buffer }> {
  const download = page.waitForEvent('download');
  await click();
  const file = await download;
  return { file, bytes: readFileSync(await file.path()) };
}

function expectPng(bytes: Buffer, width: number) {
  expect([...bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
  expect(bytes.readUInt32BE(16)).toBe(2 * width); // IHDR width: drawn at twice the SVG's size
}

test('CKA heatmaps of stories260K fill a 5 × 2 grid with values in their tooltips; order, Q, redundancy, enlarge, export', async ({ page }) => {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  await page.getByTestId('file-input').setInputFiles([testdata('data/stories260K.bin'), testdata('data/tok512.bin')]);
  await expect(page.getByTestId('card-name')).toContainText('stories260K.bin');
  await page.getByTestId('sim-metric').selectOption('cka');
  // each metric's definition is stated next to the picker and in its tooltip
  await expect(page.getByTestId('sim-metric-text')).toContainText('linear CKA');
  await expect(page.getByTestId('sim-metric')).toHaveAttribute('title', /‖Y_iᵀY_j‖²_F/);
  await page.getByTestId('sim-definitions').locator('summary').click();
  await expect(page.getByTestId('sim-definitions')).toContainText('nuclear norm');
  await expect(page.getByTestId('sim-definitions')).toContainText('closest pair of heads is replaced by their mean');
  await page.getByTestId('sim-tokens').fill('512');
  await page.getByTestId('sim-run').click();
  await expect(page.getByTestId('heatmap-row')).toHaveCount(5, { timeout: 120_000 });
  await expect(page.getByTestId('sim-export-json')).toBeVisible(); // shown once the run has finished
  const maps = page.getByTestId('heatmap-grid').getByTestId('heatmap');
  await expect(maps).toHaveCount(10);
  await expect(maps.first().getByTestId('heatmap-cell')).toHaveCount(16); // 4 K heads
  await expect(page.getByTestId('sim-summary')).toContainText('on 512 calibration tokens');
  await expect(page.getByTestId('sim-summary')).toContainText('heads ordered by clustering');

  // clustered order: the first cell is a head with itself, and every tooltip names the original heads of its cell
  const order = (await maps.first().getAttribute('data-order'))!.split(',').map(Number);
  expect([...order].sort()).toEqual([0, 1, 2, 3]);
  const tip = await maps.first().getByTestId('heatmap-cell').nth(1).locator('title').textContent();
  expect(tip).toMatch(new RegExp(`^layer 0, K: heads ${order[0]} and ${order[1]}: (0|1)\\.\\d{3}$`));
  const diag = await maps.first().getByTestId('heatmap-cell').nth(0).locator('title').textContent();
  expect(diag).toBe(`layer 0, K: heads ${order[0]} and ${order[0]}: 1.000`);
  const clustered = await Promise.all((await maps.all()).map(titles));
  const orders = await Promise.all((await maps.all()).map((m) => m.getAttribute('data-order')));
  expect(
    orders.some((o) => o !== '0,1,2,3'),
    `orders ${orders.join(' | ')}`,
  ).toBe(true);

  // keep the original order: same cells (same tooltips), rows in head order
  await page.getByTestId('sim-original-order').check();
  await expect(page.getByTestId('sim-summary')).toContainText('heads in their original order');
  await expect(maps.first()).toHaveAttribute('data-order', '0,1,2,3');
  expect(await maps.first().getByTestId('heatmap-cell').nth(1).locator('title').textContent()).toMatch(/^layer 0, K: heads 0 and 1: (0|1)\.\d{3}$/);
  const original = await Promise.all((await maps.all()).map(titles));
  original.forEach((t, m) => expect([...t].sort()).toEqual([...clustered[m]].sort()));
  expect(original).not.toEqual(clustered);
  await page.getByTestId('sim-original-order').uncheck();
  await expect(maps.first()).toHaveAttribute('data-order', order.join(','));

  // Q heads for teaching: a third column of 8 × 8 heatmaps
  await page.getByTestId('sim-show-q').check();
  await expect(maps).toHaveCount(15);
  await expect(page.getByTestId('heatmap-grid')).toContainText('Q heads (for teaching)');
  const q0 = page.getByTestId('heatmap-grid').locator('[data-label="layer 0, Q"]');
  await expect(q0.getByTestId('heatmap-cell')).toHaveCount(64);
  expect(await q0.getByTestId('heatmap-cell').nth(9).locator('title').textContent()).toMatch(/^layer 0, Q: heads \d and \d: (0|1)\.\d{3}$/);
  await page.getByTestId('sim-show-q').uncheck();
  await expect(maps).toHaveCount(10);

  // redundancy: one K and one V bar per layer, each naming the pair it merges and the energy lost
  const bars = page.getByTestId('redundancy-chart').getByTestId('redundancy-bar');
  await expect(bars).toHaveCount(10);
  for (const bar of await bars.all()) {
    const v = Number(await bar.getAttribute('data-value'));
    expect(v).toBeGreaterThan(0);
    expect(v).toBeLessThan(0.5);
    expect(Number(await bar.getAttribute('height'))).toBeGreaterThan(0);
    const kind = (await bar.getAttribute('data-kind'))!.toUpperCase();
    expect(await bar.locator('title').textContent()).toMatch(
      new RegExp(`^layer \\d, ${kind}: merging heads \\d and \\d into their mean loses \\d+\\.\\d% of the layer's ${kind} output energy$`),
    );
  }

  // click a heatmap: layer 2's V heads open large with head labels on both axes; Escape closes
  const dialog = page.getByTestId('sim-dialog');
  await page.getByTestId('heatmap-grid').locator('[data-label="layer 2, V"]').click();
  await expect(dialog).toBeVisible();
  await expect(dialog.locator('h3')).toHaveText('Layer 2 · V heads');
  const big = dialog.getByTestId('heatmap');
  await expect(big.getByTestId('heatmap-cell')).toHaveCount(16);
  const bigOrder = (await big.getAttribute('data-order'))!.split(',');
  const labels = await big.locator('text').allTextContents();
  for (const h of bigOrder) expect(labels.filter((t) => t === h).length, `label ${h} on both axes`).toBeGreaterThanOrEqual(2);
  expect(labels.filter((t) => t === 'head')).toHaveLength(2);
  await expect(dialog.getByTestId('sim-dialog-redundancy')).toContainText('layer 2, V: merging heads');
  // this view exports too
  const layerSvg = await saved(page, () => dialog.getByTestId('sim-export-layer-svg').click());
  expect(layerSvg.file.suggestedFilename()).toMatch(/-cka-layer2-V\.svg$/);
  expect(await parseSvg(page, layerSvg.bytes.toString('utf8'))).toMatchObject({ error: false, root: 'svg' });
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);

  // from the keyboard: Tab to a heatmap, Enter opens it, Escape closes and focus returns to it
  const k1 = page.getByTestId('heatmap-grid').locator('[data-label="layer 1, K"]');
  await k1.focus();
  await page.keyboard.press('Enter');
  await expect(dialog).toBeVisible();
  await expect(dialog.locator('h3')).toHaveText('Layer 1 · K heads');
  await expect(dialog.getByTestId('sim-dialog-close')).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await expect(k1).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(page.getByTestId('heatmap-grid').locator('[data-label="layer 1, V"]')).toBeFocused();
  await page.keyboard.press(' ');
  await expect(dialog.locator('h3')).toHaveText('Layer 1 · V heads');
  await dialog.getByTestId('sim-dialog-close').click();
  await expect(dialog).toHaveCount(0);

  // the grid as SVG (well-formed, a rect per cell, no focus ring) and as PNG (signature, twice the size)
  const gridWidth = Number(await page.getByTestId('heatmap-grid').getAttribute('width'));
  const svg = await saved(page, () => page.getByTestId('sim-export-grid-svg').click());
  expect(svg.file.suggestedFilename()).toMatch(/^stories260K\.bin.*-cka-heatmaps\.svg$/);
  const text = svg.bytes.toString('utf8');
  expect(text.startsWith('<?xml')).toBe(true);
  const parsed = await parseSvg(page, text);
  expect(parsed).toMatchObject({ error: false, root: 'svg', ns: 'http://www.w3.org/2000/svg', width: gridWidth, focusRings: 0 });
  expect(parsed.rects).toBeGreaterThanOrEqual(10 * 16);
  expect(text).toContain('layer 0, K: heads');
  const png = await saved(page, () => page.getByTestId('sim-export-grid-png').click());
  expect(png.file.suggestedFilename()).toMatch(/-cka-heatmaps\.png$/);
  expectPng(png.bytes, gridWidth);

  // the redundancy bars as SVG and PNG
  const barsWidth = Number(await page.getByTestId('redundancy-chart').getAttribute('width'));
  const barsSvg = await saved(page, () => page.getByTestId('sim-export-redundancy-svg').click());
  const barsParsed = await parseSvg(page, barsSvg.bytes.toString('utf8'));
  expect(barsParsed).toMatchObject({ error: false, root: 'svg' });
  expect(barsParsed.rects).toBeGreaterThanOrEqual(10);
  expectPng((await saved(page, () => page.getByTestId('sim-export-redundancy-png').click())).bytes, barsWidth);

  // the numbers: JSON in the CLI's shape, with Q and the redundancy
  const json = JSON.parse((await saved(page, () => page.getByTestId('sim-export-json').click())).bytes.toString('utf8'));
  expect(json).toMatchObject({ metric: 'cka', tokens: 512 });
  expect(json.layers).toHaveLength(5);
  expect(json.layers[0].k[0][0]).toBeCloseTo(1, 3);
  expect(json.layers[0].q).toHaveLength(8);
  expect(json.layers[2].redundancy.v.loss).toBeCloseTo(Number(await bars.and(page.locator('[data-layer="2"][data-kind="v"]')).getAttribute('data-value')), 12);
});

test('weight cosine needs no text; redundancy asks for a calibration pass', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  await page.getByTestId('file-input').setInputFiles([testdata('data/stories260K.bin'), testdata('data/tok512.bin')]);
  await expect(page.getByTestId('card-name')).toContainText('stories260K.bin');
  await page.getByTestId('sim-metric').selectOption('weight-cosine');
  await expect(page.getByTestId('sim-metric-text')).toContainText('flattened projection weights');
  await page.getByTestId('sim-run').click();
  await expect(page.getByTestId('heatmap-row')).toHaveCount(5, { timeout: 60_000 });
  await expect(page.getByTestId('sim-redundancy-none')).toContainText('needs the calibration pass');
  await expect(page.getByTestId('redundancy-chart')).toHaveCount(0);
});

test('the K/V spectrum of the demo: weights only, a curve per layer, a dot at the latent width the Fuse budget gives', async ({ page }) => {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/#fuse.budget=25');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  await page.getByTestId('spectrum-run').click();
  const chart = page.getByTestId('spectrum-chart');
  await expect(chart.getByTestId('spectrum-curve')).toHaveCount(4, { timeout: 60_000 });
  await expect(chart.getByTestId('spectrum-marker')).toHaveCount(4);
  // the demo: 8 K and 8 V heads of 16 dims, width 128. At 25 % a layer caches 64 numbers: 8 K heads × 4 kept rotary dims, d_c = 32
  await expect(chart.getByTestId('spectrum-width-line')).toHaveAttribute('data-width', '32');
  await expect(chart.getByTestId('spectrum-width-line')).toContainText('d_c = 32 at 25 %');
  for (const curve of await chart.getByTestId('spectrum-curve').all()) await expect(curve).toHaveAttribute('data-rank', '128'); // 256 rows, 128 directions
  for (const dot of await chart.getByTestId('spectrum-marker').all()) {
    const kept = Number(await dot.getAttribute('data-kept'));
    expect(kept).toBeGreaterThan(32 / 128); // the best 32 of 128 directions hold more than their even share
    expect(kept).toBeLessThan(1);
    expect(await dot.locator('title').textContent()).toMatch(
      /^layer \d: at 25 % the latent is d_c = 32 wide \(beside 2 rotary pairs kept per K head\); the best 32 directions hold \d+\.\d% of/,
    );
  }
  await expect(page.getByTestId('spectrum-text')).toContainText('a budget of 25 %');
  // its words link to the glossary, its definition is under "What the numbers mean"
  await page.getByTestId('spectrum-view').locator('[data-testid="glossary-link"][data-term="latent"]').click();
  await expect(page.locator('#glossary-latent')).toHaveClass(/glossary-shown/);
  await page.getByTestId('sim-definitions').locator('summary').click();
  await expect(page.getByTestId('sim-definitions')).toContainText('Eckart–Young');
  // the chart exports; another budget in the Fuse panel says the dots are for the old one
  const download = page.waitForEvent('download');
  await page.getByTestId('spectrum-export-svg').click();
  expect((await download).suggestedFilename()).toMatch(/kv-spectrum\.svg$/);
  await page.getByTestId('fusion-budget-50').check();
  await expect(page.getByTestId('spectrum-stale')).toContainText('now 50 %; the dots are for 25 %');
});
