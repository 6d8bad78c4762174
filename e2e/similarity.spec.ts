// Head similarity in the page: stories260K, CKA on the built-in sample; the grid shows 5 layers × {K, V} and a cell's
// tooltip gives the head pair and value.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { shared } from '../test/shared';

test('CKA heatmaps of stories260K fill a 5 × 2 grid with values in their tooltips', async ({ page }) => {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  await page.getByTestId('file-input').setInputFiles([shared('data/stories260K.bin'), shared('data/tok512.bin')]);
  await expect(page.getByTestId('card-name')).toContainText('stories260K.bin');
  await page.getByTestId('sim-metric').selectOption('cka');
  await page.getByTestId('sim-tokens').fill('512');
  await page.getByTestId('sim-run').click();
  await expect(page.getByTestId('heatmap-row')).toHaveCount(5, { timeout: 120_000 });
  const maps = page.getByTestId('heatmap-grid').getByTestId('heatmap');
  await expect(maps).toHaveCount(10);
  await expect(maps.first().getByTestId('heatmap-cell')).toHaveCount(16); // 4 K heads
  const tip = await maps.first().getByTestId('heatmap-cell').nth(1).locator('title').textContent();
  expect(tip).toMatch(/^layer 0, K: heads 0 and 1: (0|1)\.\d{3}$/);
  const diag = await maps.first().getByTestId('heatmap-cell').nth(0).locator('title').textContent();
  expect(diag).toMatch(/heads 0 and 0: 1\.000$/);
  await expect(page.getByTestId('sim-summary')).toContainText('on 512 calibration tokens');

  const download = page.waitForEvent('download');
  await page.getByTestId('sim-export-json').click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^stories260K\.bin.*-cka\.json$/);
  const json = JSON.parse(readFileSync(await file.path(), 'utf8'));
  expect(json).toMatchObject({ metric: 'cka', tokens: 512 });
  expect(json.layers).toHaveLength(5);
  expect(json.layers[0].k[0][0]).toBeCloseTo(1, 3);
});
