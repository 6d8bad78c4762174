// Fusing heads in the page, on the built-in demo (4 layers × 8 heads, genuine MHA) in headless Chromium on WebGPU: a budget
// mean-pool cannot divide is refused with the core's message; mean-pool at 50 % adds a row with its perplexity; a few DHA
// steps show the budget bars, the step counter and the loss curve moving; pause holds the counter, Step advances it by one,
// Resume finishes; the DHA row's experiment.json downloads and parses, and its model files load back in the Model panel and
// give the row's perplexity on the same documents. The workload is tiny (SwiftShader is slow).
import { expect, test, type Locator, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { testdata } from '../test/testdata';

const stepOf = async (counter: Locator) => Number(await counter.getAttribute('data-step'));

async function download(page: Page, button: Locator): Promise<{ name: string; bytes: Buffer }> {
  const pending = page.waitForEvent('download');
  await button.click();
  const file = await pending;
  return { name: file.suggestedFilename(), bytes: readFileSync(await file.path()) };
}

test('mean-pool and DHA on the demo: live budgets, curves, pause/step/resume, results with perplexity, downloads that load back', async ({ page }) => {
  test.setTimeout(540_000);
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  const panel = page.getByTestId('fusion-panel');
  await expect(panel.getByRole('heading', { name: 'Fuse heads' })).toBeVisible();
  await expect(panel.getByText('our reconstruction', { exact: true })).toBeVisible();
  await panel.getByTestId('fusion-cal-tokens').fill('512');
  await panel.getByTestId('fusion-eval-docs').fill('3');
  await expect(panel.getByTestId('fusion-texts-note')).toContainText('calibration reads only the documents before them');

  // a budget mean-pool cannot divide: 37.5 % of 8 heads is 3 groups — the core's message, no row, no crash
  await panel.getByTestId('fusion-method-meanpool').check();
  await panel.getByTestId('fusion-budget-custom').check();
  await panel.getByTestId('fusion-budget-pct').fill('37.5');
  await panel.getByTestId('fusion-run').click();
  await expect(panel.getByTestId('fusion-error')).toContainText("Equal group sizes need each layer's head count to divide its 8 K heads");
  await expect(panel.getByTestId('fusion-results')).toHaveCount(0);

  // mean-pool at 50 %: 4 K and 4 V heads in every layer, perplexity before → after on the held-out documents
  const t0 = Date.now();
  await panel.getByTestId('fusion-budget-50').check();
  await panel.getByTestId('fusion-run').click();
  const rows = panel.getByTestId('fusion-row');
  await expect(rows).toHaveCount(1, { timeout: 240_000 });
  console.log(`mean-pool run: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await expect(panel.getByTestId('fusion-error')).toHaveCount(0);
  const mp = rows.nth(0);
  await expect(mp).toHaveAttribute('data-method', 'meanpool');
  await expect(mp.getByTestId('fusion-row-counts')).toHaveText('4/4 4/4 4/4 4/4');
  await expect(mp.getByTestId('fusion-row-kv')).toHaveText('4,096 → 2,048');
  const mpPpl = mp.getByTestId('fusion-row-ppl');
  const before = Number(await mpPpl.getAttribute('data-before'));
  const mpAfter = Number(await mpPpl.getAttribute('data-after'));
  // the demo reads its own stories at about 1.6 per byte; pooling half its heads without training costs perplexity
  expect(before).toBeGreaterThan(1.1);
  expect(before).toBeLessThan(2.5);
  expect(mpAfter).toBeGreaterThan(before);
  await expect(mpPpl).toContainText(`${before.toFixed(3)} → ${mpAfter.toFixed(3)}`);
  const bars = panel.getByTestId('fusion-budget-chart').getByTestId('fusion-budget-bar');
  await expect(bars).toHaveCount(8);
  for (const bar of await bars.all()) await expect(bar).toHaveAttribute('data-heads', '4');

  // compare continuations: the original's greedy text is the one transformers computed; the fused model's differs
  const ref: string = JSON.parse(readFileSync(testdata('data/demo/demo-mha-bytes-reference.json'), 'utf8')).greedy;
  const prompt = 'Once upon a time';
  await panel.getByTestId('fusion-compare-tokens').fill('16');
  await panel.getByTestId('fusion-row-actions').nth(0).getByTestId('fusion-compare').click();
  const original = panel.getByTestId('fusion-continuation-original').getByTestId('fusion-continuation-text');
  const fused = panel.getByTestId('fusion-continuation-fused').getByTestId('fusion-continuation-text');
  await expect(original).toHaveText(ref.trim().slice(0, prompt.length + 16), { timeout: 120_000 });
  await expect(panel.getByTestId('fusion-continuation-fused')).toContainText('fused: mean-pool at 50 %');
  await expect.poll(async () => ((await fused.textContent()) ?? '').length, { timeout: 120_000 }).toBe(prompt.length + 16);
  await expect(panel.getByTestId('fusion-compare')).toBeEnabled({ timeout: 60_000 });

  // DHA at 50 %, 4 own steps of 256 tokens (2 sequences of 128): the recipe disclosure spells out DHA's choices
  await panel.getByTestId('fusion-method-dha').check();
  const recipe = panel.getByTestId('fusion-recipe');
  await expect(recipe.locator('summary')).toContainText('groups by cost · aligned · renormalised · separate K/V groups · free group sizes · searched counts');
  await recipe.locator('summary').click();
  await expect(panel.getByTestId('fusion-kv-groups')).toHaveValue('preset');
  await panel.getByTestId('fusion-steps-auto').uncheck();
  await panel.getByTestId('fusion-steps').fill('4');
  await panel.getByTestId('fusion-tokens-per-step').fill('256');
  await panel.getByTestId('fusion-seq-len').fill('128');
  const t1 = Date.now();
  await panel.getByTestId('fusion-run').click();
  await expect(panel.getByTestId('fusion-status')).toContainText('Running');
  await expect(panel.getByTestId('fusion-budget-caption')).toContainText('DHA at 50 %');
  // the search: the budget bars appear and end at half of the 64 K+V heads
  await expect(panel.getByTestId('fusion-budget-chart')).toContainText('search done: 32 of 64 K+V heads', { timeout: 240_000 });
  await expect(bars).toHaveCount(8);
  const heads = await Promise.all(
    (await bars.all()).map(async (b) => [await b.getAttribute('data-kind'), Number(await b.getAttribute('data-heads'))] as const),
  );
  expect(heads.filter(([k]) => k === 'k').reduce((a, [, n]) => a + n, 0)).toBe(16);
  expect(heads.filter(([k]) => k === 'v').reduce((a, [, n]) => a + n, 0)).toBe(16);

  // training: the counter and the loss curve advance by themselves
  const counter = panel.getByTestId('fusion-step');
  const lossLine = panel.getByTestId('fusion-loss-chart').locator('[data-testid="fusion-loss-chart-line"][data-series="fusion"]');
  await expect.poll(() => stepOf(counter), { timeout: 240_000 }).toBeGreaterThanOrEqual(1);
  await expect(lossLine).not.toHaveAttribute('data-points', '0');
  // the calibration KL of the step-0 model (the aligned merge on DHA's budgets) is measured first
  const klLine = panel.getByTestId('fusion-kl-chart').locator('[data-testid="fusion-kl-chart-line"]');
  await expect(klLine).toHaveAttribute('data-points', '1');

  // pause: the run stops before its next step and the counter holds
  await panel.getByTestId('fusion-pause').click();
  await expect(panel.getByTestId('fusion-pause')).toHaveText('Resume');
  await expect(panel.getByTestId('fusion-status')).toContainText('Paused before step', { timeout: 120_000 });
  const held = await stepOf(counter);
  expect(held).toBeLessThan(4);
  const tokensHeld = await panel.getByTestId('fusion-tokens').getAttribute('data-tokens');
  expect(Number(tokensHeld)).toBe(held * 256);
  await page.waitForTimeout(3000);
  expect(await stepOf(counter)).toBe(held);
  await expect(panel.getByTestId('fusion-tokens')).toHaveAttribute('data-tokens', tokensHeld!);
  await expect(lossLine).toHaveAttribute('data-points', String(held));

  // Step: exactly one more step, then paused again
  await panel.getByTestId('fusion-step-once').click();
  await expect.poll(() => stepOf(counter), { timeout: 120_000 }).toBe(held + 1);
  await expect(panel.getByTestId('fusion-status')).toContainText(`Paused before step ${held + 2}`, { timeout: 120_000 });
  await page.waitForTimeout(1500);
  expect(await stepOf(counter)).toBe(held + 1);

  // Resume: the remaining steps run and the DHA row arrives
  await panel.getByTestId('fusion-pause').click();
  await expect(panel.getByTestId('fusion-pause')).toHaveText('Pause');
  await expect(rows).toHaveCount(2, { timeout: 300_000 });
  console.log(`DHA run (with ~5 s paused): ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  await expect(counter).toHaveAttribute('data-step', '4');
  await expect(lossLine).toHaveAttribute('data-points', '4');
  await expect(klLine).toHaveAttribute('data-points', '2'); // step 0 and the last step
  const kept = Number(await panel.getByTestId('fusion-best').getAttribute('data-best'));
  expect([0, 4]).toContain(kept);
  const dha = rows.nth(1);
  await expect(dha).toHaveAttribute('data-method', 'dha');
  const dhaPpl = dha.getByTestId('fusion-row-ppl');
  expect(Number(await dhaPpl.getAttribute('data-before'))).toBe(before); // the same held-out documents
  const dhaAfter = Number(await dhaPpl.getAttribute('data-after'));
  expect(dhaAfter).toBeGreaterThan(1);
  expect(Number.isFinite(dhaAfter)).toBe(true);
  await expect(dha.getByTestId('fusion-row-kv')).toHaveText('4,096 → 2,048');
  await expect(dha).toContainText('1,024'); // training tokens: 4 steps × 256
  const counts = (await dha.getByTestId('fusion-row-counts').textContent())!.split(' ').map((p) => p.split('/').map(Number));
  expect(counts).toHaveLength(4);
  expect(counts.reduce((a, [k]) => a + k, 0)).toBe(16);
  expect(counts.reduce((a, [, v]) => a + v, 0)).toBe(16);

  // the experiment record of the DHA row
  const actions = panel.getByTestId('fusion-row-actions').nth(1);
  const exp = await download(page, actions.getByTestId('fusion-download-experiment.json'));
  expect(exp.name).toBe('experiment.json');
  const json = JSON.parse(exp.bytes.toString('utf8'));
  expect(json).toMatchObject({
    producer: 'headlab page',
    method: 'dha',
    budget: 0.5,
    seed: 1,
    trainSteps: 4,
    trainTokens: 1024,
    kvBytesPerTokenBefore: 4096,
    kvBytesPerToken: 2048,
  });
  expect(json.pplAfter).toBeCloseTo(dhaAfter, 10);
  expect(json.pplBefore).toBeCloseTo(before, 10);
  expect(json.perLayer.map((p: { k: number; v: number }) => `${p.k}/${p.v}`).join(' ')).toBe(await dha.getByTestId('fusion-row-counts').textContent());
  expect(json.maps).toHaveLength(4);
  expect(json.own.history).toHaveLength(4);
  expect(json.own.checks.map((c: { step: number }) => c.step)).toEqual([0, 4]);
  expect(json.own.bestStep).toBe(kept);
  expect(json).toMatchObject({ label: 'DHA (4 own steps)', ownSteps: 4, recoverySteps: 0, recipe: { preset: 'dha', kvGroups: 'separate', ownSteps: 4 } });
  expect(json.source.modelHash).toMatch(/^[0-9a-f]{16}$/);
  expect(json.calibrationTokens).toBeGreaterThan(0);
  expect(json.calibrationTokens).toBeLessThanOrEqual(512);
  // the fused model's config: headlab's DHA format with the same per-layer maps
  const cfg = JSON.parse((await download(page, actions.getByTestId('fusion-download-config.json'))).bytes.toString('utf8'));
  expect(cfg.model_type).toBe('headlab-dha');
  expect(cfg.kv_layouts.map((l: { kHeadOf: number[]; vHeadOf: number[] }) => ({ kHeadOf: l.kHeadOf, vHeadOf: l.vHeadOf }))).toEqual(json.maps);

  // the downloaded folder loads back as a model and reads the held-out documents with the perplexity of the DHA row
  const model = await download(page, actions.getByTestId('fusion-download-model.safetensors'));
  const tok = await download(page, actions.getByTestId('fusion-download-tok259.bin'));
  await page.getByTestId('file-input').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(cfg)) },
    { name: model.name, mimeType: 'application/octet-stream', buffer: model.bytes },
    { name: tok.name, mimeType: 'application/octet-stream', buffer: tok.bytes },
  ]);
  await expect(page.getByTestId('card-name')).toContainText('config.json');
  const sample = readFileSync(fileURLToPath(new URL('../public/demo/demo-stories.txt', import.meta.url)), 'utf8');
  const heldOut = sample
    .split('<|endoftext|>')
    .map((d) => d.trim())
    .filter(Boolean)
    .slice(-3);
  await page.getByTestId('ppl-file').setInputFiles({ name: 'held-out.txt', mimeType: 'text/plain', buffer: Buffer.from(heldOut.join('\n<|endoftext|>\n')) });
  await page.getByTestId('ppl-run').click();
  await expect(page.getByTestId('ppl-result')).toContainText('3 documents', { timeout: 120_000 });
  expect(Number(await page.getByTestId('ppl-value').textContent())).toBeCloseTo(dhaAfter, 3);

  // Reset clears the live view and the table
  await panel.getByTestId('fusion-reset').click();
  await expect(panel.getByTestId('fusion-results')).toHaveCount(0);
  await expect(panel.getByTestId('fusion-live')).toHaveCount(0);
});

test('recovery training after mean-pool: live training curves, original → converted → trained, and the trained model loads back', async ({ page }) => {
  test.setTimeout(360_000);
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  const panel = page.getByTestId('fusion-panel');
  await panel.getByTestId('fusion-cal-tokens').fill('1024');
  await panel.getByTestId('fusion-eval-docs').fill('2');
  await panel.getByTestId('fusion-method-meanpool').check();
  await panel.getByTestId('fusion-budget-25').check();
  await panel.getByTestId('fusion-train-steps').fill('3');
  await panel.getByTestId('fusion-train-batch').fill('2');
  await panel.getByTestId('fusion-train-seq').fill('48');
  await panel.getByTestId('fusion-train-eval-every').fill('1');
  await panel.getByTestId('fusion-run').click();
  const pplLine = panel.getByTestId('fusion-train-ppl-chart').locator('[data-testid="fusion-train-ppl-chart-line"]');
  await expect(pplLine).toHaveAttribute('data-points', /[1-4]/, { timeout: 180_000 });
  const row = panel.getByTestId('fusion-row');
  await expect(row).toHaveCount(1, { timeout: 240_000 });
  await expect(pplLine).toHaveAttribute('data-points', '4');
  await expect(panel.getByTestId('fusion-train-loss-chart').locator('[data-testid="fusion-train-loss-chart-line"]')).toHaveAttribute('data-points', '3');
  await expect(panel.getByTestId('fusion-train-step')).toHaveAttribute('data-step', '3');
  const ppl = row.getByTestId('fusion-row-ppl');
  const [before, converted, after] = await Promise.all(['data-before', 'data-converted', 'data-after'].map(async (a) => Number(await ppl.getAttribute(a))));
  expect(converted).toBeGreaterThan(before); // pooling 6 of 8 heads away costs perplexity …
  expect(after).toBeLessThan(converted); // … and three small training steps win some of it back
  await expect(ppl).toContainText(`${before.toFixed(3)} → ${converted.toFixed(3)} → ${after.toFixed(3)}`);
  await expect(row).toContainText('288'); // training tokens: 3 steps × 2 × 48

  const actions = panel.getByTestId('fusion-row-actions').nth(0);
  const exp = JSON.parse((await download(page, actions.getByTestId('fusion-download-experiment.json'))).bytes.toString('utf8'));
  expect(exp.train).toMatchObject({ steps: 3, batch: 2, seqLen: 48, params: 'all', loss: 'kl' });
  expect(exp.curve.map((p: { step: number }) => p.step)).toEqual([0, 1, 2, 3]);
  expect(exp.pplConverted).toBeCloseTo(converted, 10);
  // the trained model.bin loads back and reads the held-out documents with the row's perplexity
  const bin = await download(page, actions.getByTestId('fusion-download-model.bin'));
  const tok = await download(page, actions.getByTestId('fusion-download-tok259.bin'));
  await page.getByTestId('file-input').setInputFiles([
    { name: 'trained.bin', mimeType: 'application/octet-stream', buffer: bin.bytes },
    { name: tok.name, mimeType: 'application/octet-stream', buffer: tok.bytes },
  ]);
  await expect(page.getByTestId('card-name')).toContainText('trained.bin');
  const sample = readFileSync(fileURLToPath(new URL('../public/demo/demo-stories.txt', import.meta.url)), 'utf8');
  const heldOut = sample
    .split('<|endoftext|>')
    .map((d) => d.trim())
    .filter(Boolean)
    .slice(-2);
  await page.getByTestId('ppl-file').setInputFiles({ name: 'held-out.txt', mimeType: 'text/plain', buffer: Buffer.from(heldOut.join('\n<|endoftext|>\n')) });
  await page.getByTestId('ppl-run').click();
  await expect(page.getByTestId('ppl-result')).toContainText('2 documents', { timeout: 120_000 });
  expect(Number(await page.getByTestId('ppl-value').textContent())).toBeCloseTo(after, 3);
});

test('progressive DHA fusion: the recipe’s fusion choice, the operators as heatmaps converging, the Lagrangian, CSV, a row', async ({ page }) => {
  test.setTimeout(300_000);
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  // A link chooses progressive fusion with 4 fusion steps of 256 tokens; the recipe opens and spells it out.
  await page.goto(
    '/#fuse.method=dha&fuse.budget=25&fuse.fusion=progressive&fuse.steps=4&fuse.tokensPerStep=256&fuse.seqLen=64&fuse.calTokens=1024&fuse.evalDocs=2',
  );
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  const panel = page.getByTestId('fusion-panel');
  await expect(panel.getByTestId('fusion-fusion')).toHaveValue('progressive');
  await expect(panel.getByTestId('fusion-recipe-summary')).toContainText('progressive fusion');
  await expect(panel.getByTestId('fusion-recipe-summary')).toContainText('4 fusion steps');
  await expect(panel.getByTestId('fusion-progressive-fields')).toBeVisible();
  await panel.getByTestId('fusion-run').click();
  const ops = panel.getByTestId('fusion-operators');
  await expect(ops).toBeVisible({ timeout: 240_000 });
  // 4 layers × K and V, 8 × 8 cells each.
  await expect(ops.getByTestId('fusion-operators-svg').getByTestId('heatmap-cell')).toHaveCount(4 * 2 * 64);
  await expect(panel.getByTestId('fusion-row')).toHaveCount(1, { timeout: 240_000 });
  await expect(ops.getByTestId('fusion-operators-svg')).toContainText('step 4 / 4');
  await expect(panel.getByTestId('fusion-row')).toContainText('progressive fusion');
  const pending = page.waitForEvent('download');
  await ops.getByTestId('fusion-export-operators-csv').click();
  const csv = readFileSync(await (await pending).path(), 'utf8');
  // 4 steps × 4 layers × 2 kinds of Lagrangian rows, then 4 × 2 × 64 operator entries.
  const lines = csv.split('\n');
  expect(lines.filter((l) => /^\d+,\d+,[kv],/.test(l))).toHaveLength(4 * 4 * 2);
  expect(lines.filter((l) => /^\d+,[kv],\d+,\d+,/.test(l))).toHaveLength(4 * 2 * 64);
});
