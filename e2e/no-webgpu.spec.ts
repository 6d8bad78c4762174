// A student whose browser has no WebGPU (here: Chromium started without --enable-unsafe-webgpu, so it offers no adapter)
// sees why, how to turn WebGPU on, and the worked example the lab computed on the demo — never just an error.
import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import config from '../playwright.config';
import type { ExampleData } from '../src/lab/example';

/** The worked example the page shows: its runs decide how many rows, lines and points there are. */
const data = JSON.parse(readFileSync(new URL('../public/example/demo-example.json', import.meta.url), 'utf8')) as ExampleData;
const runs = data.runs.length;

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
  await expect(rows).toHaveCount(runs);
  for (const m of ['meanpool', 'aligned', 'dha']) await expect(example.locator(`[data-testid="example-row"][data-method="${m}"]`).first()).toContainText('→');
  // what the numbers are counted in, and each run's training tokens (its conversion's own included)
  await expect(example.getByTestId('example-provenance')).toContainText('per byte');
  await expect(example.getByTestId('example-results')).toContainText('float32');
  for (const r of data.runs)
    await expect(example.locator(`[data-testid="example-row"][data-lane="${r.lane ?? r.method}"]`)).toHaveAttribute(
      'data-tokens',
      String(r.tokens ?? r.curve.at(-1)!.tokens),
    );
  await expect(example.getByTestId('example-race').locator('[data-testid="example-race-line"]')).toHaveCount(runs + 1);
  await expect(example.getByTestId('pareto-point')).toHaveCount(runs);
  // every view exports; the recovery chart as an SVG document with its four lines
  await expect(example.locator('[data-testid$="-export-svg"]')).toHaveCount(6);
  const download = page.waitForEvent('download');
  await example.getByTestId('example-race-export-svg').click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('example-race.svg');
  const svg = await readFile((await file.path())!, 'utf8');
  expect(svg).toMatch(/^<\?xml[^>]*>\s*<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(svg.match(/data-testid="example-race-line"/g)).toHaveLength(runs + 1);
  // nothing tried to load a model
  await expect(page.getByTestId('model-error')).toHaveCount(0);
});

test('without WebGPU the tour walks the worked example: every step at its part, the example’s own head counts, no actions', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('example-views')).toBeVisible({ timeout: 60_000 });
  await page.getByTestId('tour-start').click();
  const tour = page.getByTestId('tour');
  await expect(tour).toHaveAttribute('data-mode', 'example');
  await expect(tour.getByTestId('tour-step')).toContainText('on the worked example');
  await expect(tour.getByTestId('tour-model-facts')).toContainText(`${data.model.layers} layers × ${data.model.heads} query heads`);
  const total = Number((await tour.getByTestId('tour-step').textContent())!.match(/of (\d+)/)![1]);
  expect(total).toBeGreaterThanOrEqual(10);
  const seen = new Set<string>();
  let latentStep = 0;
  for (let s = 1; s <= total; s++) {
    await expect(tour.getByTestId('tour-step')).toHaveAttribute('data-step', String(s));
    // no action that cannot run here, and the step points at a part of the example that is on the page
    await expect(tour.getByTestId('tour-action')).toHaveCount(0);
    const target = (await tour.getAttribute('data-target'))!;
    expect(target).toMatch(/^example-/);
    await expect(page.locator(`#${target}`)).toHaveClass(/tour-target/);
    await expect(page.locator('.tour-target')).toHaveCount(1);
    seen.add(target);
    // the latent step explains itself in words where the example has no latent run to point at
    if ((await tour.locator('h2').textContent())!.startsWith('Latent KV')) {
      latentStep = s;
      await expect(tour.getByTestId('tour-text')).toContainText(
        data.runs.some((r) => r.method === 'mla') ? 'compare the latent’s row' : 'The worked example has no latent run',
      );
    }
    if (s < total) await tour.getByTestId('tour-next').click();
  }
  expect(latentStep).toBeGreaterThan(0);
  // it walks the whole example: the cache, similarity, DHA's budgets, the conversions, recovery, the trade-off
  for (const part of ['example-kv', 'example-similarity', 'example-dha', 'example-methods', 'example-recovery', 'example-tradeoff'])
    expect(seen).toContain(part);
  // the words the example leans on link to the glossary
  await page.locator('#example-similarity [data-testid="glossary-link"][data-term="rotary-plane"]').click();
  await expect(page.locator('#glossary-rotary-plane')).toHaveClass(/glossary-shown/);
  await tour.getByTestId('tour-next').click(); // Finish
  await expect(tour).toHaveCount(0);
  await expect(page.getByTestId('model-error')).toHaveCount(0);
  expect(errors).toEqual([]);
});
