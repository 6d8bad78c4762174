// A student whose browser has no WebGPU (here: Chromium started without --enable-unsafe-webgpu, so it offers no adapter)
// sees why, how to turn WebGPU on, and the worked example the lab computed on the demo — never just an error.
import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import config from '../playwright.config';

const args = (config.use?.launchOptions?.args ?? []).filter((a) => a !== '--enable-unsafe-webgpu');
test.use({ launchOptions: { ...config.use?.launchOptions, args } });

test('without WebGPU the page explains why and shows the worked example, labelled with its adapter and date', async ({ page }) => {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  const example = page.getByTestId('example');
  await expect(example).toBeVisible({ timeout: 60_000 });
  await expect(example.getByTestId('example-reason')).toContainText(/adapter|WebGPU/);
  await expect(example.getByTestId('example-enable')).toContainText('chrome://flags/#enable-unsafe-webgpu');
  await expect(example.getByTestId('example-provenance')).toContainText(/computed by the lab on .+ on \d{4}-\d{2}-\d{2}/);
  // the head layouts: the demo's (4 layers, 8 K and 8 V heads each) and DHA's decoupled one
  const maps = example.getByTestId('head-map');
  await expect(maps).toHaveCount(2);
  await expect(maps.first().getByTestId('head-map-layer')).toHaveCount(4);
  await expect(maps.first().locator('[data-testid="head-map-kv-head"][data-kind="k"]')).toHaveCount(32);
  await expect(maps.first().getByTestId('head-map-link')).toHaveCount(64);
  // similarity heatmaps, three methods with their recovery, the race and the trade-off
  await expect(example.getByTestId('heatmap')).toHaveCount(8);
  const rows = example.getByTestId('example-row');
  await expect(rows).toHaveCount(3);
  for (const m of ['meanpool', 'aligned', 'dha']) await expect(example.locator(`[data-testid="example-row"][data-method="${m}"]`)).toContainText('→');
  await expect(example.getByTestId('example-race').locator('[data-testid="example-race-line"]')).toHaveCount(4);
  await expect(example.getByTestId('pareto-point')).toHaveCount(3);
  // every view exports; the recovery chart as an SVG document with its four lines
  await expect(example.locator('[data-testid$="-export-svg"]')).toHaveCount(6);
  const download = page.waitForEvent('download');
  await example.getByTestId('example-race-export-svg').click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('example-race.svg');
  const svg = await readFile((await file.path())!, 'utf8');
  expect(svg).toMatch(/^<\?xml[^>]*>\s*<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(svg.match(/data-testid="example-race-line"/g)).toHaveLength(4);
  // nothing tried to load a model
  await expect(page.getByTestId('model-error')).toHaveCount(0);
});
