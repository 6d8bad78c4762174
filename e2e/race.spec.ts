// The recovery race on the built-in demo in headless Chromium (SwiftShader): three methods at 25 %, the same training for each
// (4 steps of the page's CPU-fallback step, 8 × 64 tokens, after DHA's 10 steps of its own); the chart grows one line per
// method plus the original's; pause holds a lane, Step advances it by one point; DHA ends below the aligned merge and
// mean-pool (the order DHA promises); every method ends as a row here and in the fusion results table; the curves download
// as CSV.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';

test('recovery race: three methods, one chart, pause/step, rows and CSV', async ({ page }) => {
  test.setTimeout(600_000);
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  const panel = page.getByTestId('race-panel');
  await expect(panel.getByRole('heading', { name: 'Recovery race' })).toBeVisible();
  await expect(panel.getByTestId('race-budget')).toHaveValue('25');
  for (const m of ['meanpool', 'aligned', 'dha']) await expect(panel.getByTestId(`race-method-${m}`)).toBeChecked();
  // an impossible setting is refused before anything runs
  await panel.getByTestId('race-train-steps').fill('0');
  await panel.getByTestId('race-run').click();
  await expect(panel.getByTestId('race-error')).toContainText('give at least one training step');

  // the page's CPU-fallback defaults, but 4 training steps instead of 12, measured after every step
  await expect(panel.getByTestId('race-train-batch')).toHaveValue('8');
  await expect(panel.getByTestId('race-train-seq')).toHaveValue('64');
  await expect(panel.getByTestId('race-dha-steps')).toHaveValue('10');
  await panel.getByTestId('race-train-steps').fill('4');
  await panel.getByTestId('race-train-eval-every').fill('1');
  const t0 = Date.now();
  await panel.getByTestId('race-run').click();
  await expect(panel.getByTestId('race-error')).toHaveCount(0);
  const chart = panel.getByTestId('race-chart');
  const line = (m: string) => chart.locator(`[data-testid="race-chart-line"][data-series="${m}"]`);
  // the original's reference line as soon as its perplexity is known
  await expect(line('original')).toHaveAttribute('data-points', '2', { timeout: 120_000 });

  // pause while mean-pool trains: the lane holds, Step adds one point, Resume finishes
  await expect(line('meanpool')).toHaveAttribute('data-points', '1', { timeout: 120_000 });
  await panel.getByTestId('race-pause').click();
  await expect(panel.getByTestId('race-status')).toContainText('Paused (mean-pool)', { timeout: 120_000 });
  const held = Number(await line('meanpool').getAttribute('data-points'));
  await page.waitForTimeout(1500);
  await expect(line('meanpool')).toHaveAttribute('data-points', String(held));
  await panel.getByTestId('race-step').click();
  await expect(line('meanpool')).toHaveAttribute('data-points', String(held + 1), { timeout: 60_000 });
  await panel.getByTestId('race-pause').click(); // Resume

  await expect(panel.locator('[data-testid="race-row"][data-status="done"]')).toHaveCount(3, { timeout: 540_000 });
  console.log(`race of three methods: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const after: Record<string, number> = {};
  for (const m of ['meanpool', 'aligned', 'dha']) {
    await expect(line(m)).toHaveAttribute('data-points', '5'); // step 0 (converted) and four steps
    const row = panel.locator(`[data-testid="race-row"][data-method="${m}"]`);
    const converted = Number(await row.getAttribute('data-converted'));
    after[m] = Number(await row.getAttribute('data-after'));
    expect(converted).toBeGreaterThan(after[m]); // training recovers
  }
  console.log(`after training: ${JSON.stringify(after)}`);
  expect(after.dha).toBeLessThan(after.aligned);
  expect(after.aligned).toBeLessThan(after.meanpool);
  // the DHA line starts to the right: its own steps count as training tokens (10 steps × 512 tokens)
  const dhaPath = await line('dha').getAttribute('d');
  const mpPath = await line('meanpool').getAttribute('d');
  expect(Number(/^M([\d.]+)/.exec(dhaPath!)![1])).toBeGreaterThan(Number(/^M([\d.]+)/.exec(mpPath!)![1]));
  // every method is also a row of the fusion results table, with its training counted
  const fusionRows = page.getByTestId('fusion-panel').getByTestId('fusion-row');
  await expect(fusionRows).toHaveCount(3);
  await expect(fusionRows.nth(0).getByTestId('fusion-row-ppl')).toHaveAttribute('data-converted', /\d/);
  // CSV: a header and one line per measured point, plus the original
  const pending = page.waitForEvent('download');
  await panel.getByTestId('race-export-csv').click();
  const csv = readFileSync(await (await pending).path(), 'utf8').trim().split('\n');
  expect(csv[0]).toBe('method,step,training_tokens,loss,heldout_ppl');
  expect(csv.length).toBe(1 + 3 * 5 + 1);
  expect(csv.filter((l) => l.startsWith('dha,4,'))).toHaveLength(1);
});
