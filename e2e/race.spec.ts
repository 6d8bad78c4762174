// The recovery race on the built-in demo in headless Chromium (SwiftShader): three lanes at 25 % — mean-pool, DHA with 2 of
// its own steps, and DHA with none — on one budget of 4 training steps of the page's CPU-fallback step (8 × 64 tokens), so
// DHA's own steps come out of it; DHA's own steps beyond the budget are refused with the numbers to change. The chart grows
// one line per lane plus the original's; pause holds a lane, Step advances it by one point; every lane ends with the same
// total tokens (data-tokens), read in the table at that total and at a common intermediate count; the log-scale switch
// changes the perplexity axis and the SVG export follows it; every lane is a row of the fusion results table; the curves
// download as CSV; the Compare view shows each run's training tokens and filters by token budget.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';

test('recovery race: lanes on one token budget, one chart, pause/step, equal-token table, log scale, CSV, Compare filter', async ({ page }) => {
  test.setTimeout(600_000);
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto('/');
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  const panel = page.getByTestId('race-panel');
  await expect(panel.getByRole('heading', { name: 'Recovery race' })).toBeVisible();
  await expect(panel.getByTestId('race-budget')).toHaveValue('25');
  for (const m of ['meanpool', 'aligned', 'dha', 'dha-e2e', 'mla']) await expect(panel.getByTestId(`race-method-${m}`)).toBeChecked();
  for (const m of ['dha-uniform', 'dha-joint']) await expect(panel.getByTestId(`race-method-${m}`)).not.toBeChecked();
  await expect(panel.getByTestId('race-renorm')).toBeChecked();
  // an impossible setting is refused before anything runs
  await panel.getByTestId('race-train-steps').fill('0');
  await panel.getByTestId('race-run').click();
  await expect(panel.getByTestId('race-error')).toContainText('give at least one training step');

  // the page's CPU-fallback defaults, but 4 training steps, measured after every step
  await expect(panel.getByTestId('race-train-batch')).toHaveValue('8');
  await expect(panel.getByTestId('race-train-seq')).toHaveValue('64');
  await expect(panel.getByTestId('race-dha-steps')).toHaveValue('4');
  await panel.getByTestId('race-dha-steps').fill('10');
  await panel.getByTestId('race-train-steps').fill('4');
  await panel.getByTestId('race-train-eval-every').fill('1');
  // DHA's 10 own steps do not fit in 4 steps of the same tokens: the message names both totals and what to change
  await panel.getByTestId('race-run').click();
  await expect(panel.getByTestId('race-error')).toContainText('10 × 512 = 5,120 tokens');
  await expect(panel.getByTestId('race-error')).toContainText('raise the training steps to at least 10');
  await expect(panel.getByTestId('race-view')).toHaveCount(0);

  // three lanes: mean-pool, DHA with 2 own steps then 2 end to end, DHA with 4 end to end
  await panel.getByTestId('race-method-aligned').uncheck();
  await panel.getByTestId('race-method-mla').uncheck();
  await panel.getByTestId('race-dha-steps').fill('2');
  const lanes = ['meanpool', 'dha', 'dha-e2e'];
  const t0 = Date.now();
  await panel.getByTestId('race-run').click();
  await expect(panel.getByTestId('race-error')).toHaveCount(0);
  const chart = panel.getByTestId('race-chart');
  await expect(chart.locator('text').filter({ hasText: "total training tokens (DHA's own steps included)" })).toHaveCount(1);
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

  const rows = panel.locator('[data-testid="race-row"]');
  await expect(panel.locator('[data-testid="race-row"][data-status="done"]')).toHaveCount(3, { timeout: 540_000 });
  console.log(`race of three lanes: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await expect(rows).toHaveCount(3);
  // every lane trained on the same total: 4 steps × 512 tokens, DHA's own steps included
  for (const m of lanes) await expect(panel.locator(`[data-testid="race-row"][data-lane="${m}"]`)).toHaveAttribute('data-tokens', '2048');
  await expect(panel.locator('[data-testid="race-row"][data-lane="dha"] td').first()).toHaveAttribute('title', /own layer-local steps/);
  // points: mean-pool and DHA-without-own-steps from 0 tokens after every step; DHA from its 2 own steps (1,024 tokens) on
  for (const [m, points] of [
    ['meanpool', '5'],
    ['dha', '3'],
    ['dha-e2e', '5'],
  ])
    await expect(line(m)).toHaveAttribute('data-points', points);
  const after: Record<string, number> = {};
  const mid: Record<string, number> = {};
  for (const m of lanes) {
    const row = panel.locator(`[data-testid="race-row"][data-lane="${m}"]`);
    const converted = Number(await row.getAttribute('data-converted'));
    after[m] = Number(await row.getAttribute('data-after'));
    mid[m] = Number(await row.getAttribute('data-mid'));
    expect(converted).toBeGreaterThan(after[m]); // training recovers
    expect(mid[m]).toBeGreaterThan(0);
  }
  console.log(`at 1,024 tokens: ${JSON.stringify(mid)}; at 2,048 tokens: ${JSON.stringify(after)}`);
  // the table reads every lane at a common intermediate count too (the one nearest half the total), and marks one best
  // final value: all lanes were read at the same tokens
  await expect(panel.getByTestId('race-mid-tokens')).toHaveAttribute('data-tokens', '1024');
  await expect(panel.getByTestId('race-best')).toHaveCount(1);
  await expect(panel.getByTestId('race-best')).toHaveText(Math.min(...Object.values(after)).toFixed(3));
  await expect(panel.getByTestId('race-unequal')).toHaveCount(0);
  // the DHA line starts to the right: its own steps count as training tokens (2 steps × 512 tokens)
  const startX = async (m: string) => Number(/^M([\d.]+)/.exec((await line(m).getAttribute('d'))!)![1]);
  expect(await startX('dha')).toBeGreaterThan(await startX('meanpool'));
  expect(await startX('dha-e2e')).toBe(await startX('meanpool'));

  // the log scale: the perplexity axis changes (its title and numbers), the exported SVG follows
  await expect(chart).toHaveAttribute('data-y-scale', 'linear');
  const ticks = async () => (await chart.getByTestId('race-chart-ytick').allTextContents()).join(' ');
  const linearTicks = await ticks();
  const linearY = await line('meanpool').getAttribute('d');
  await panel.getByTestId('race-chart-log').check();
  await expect(chart).toHaveAttribute('data-y-scale', 'log');
  await expect(chart.locator('text').filter({ hasText: 'held-out perplexity (log scale)' })).toHaveCount(1);
  expect(await ticks()).not.toBe(linearTicks);
  expect(await line('meanpool').getAttribute('d')).not.toBe(linearY);
  const svgDownload = page.waitForEvent('download');
  await panel.getByTestId('race-export-svg').click();
  expect(readFileSync(await (await svgDownload).path(), 'utf8')).toContain('held-out perplexity (log scale)');

  // every lane is also a row of the fusion results table, with its training counted
  const fusionRows = page.getByTestId('fusion-panel').getByTestId('fusion-row');
  await expect(fusionRows).toHaveCount(3);
  await expect(fusionRows.nth(0).getByTestId('fusion-row-ppl')).toHaveAttribute('data-converted', /\d/);
  // CSV: a header and one line per measured point, plus the original
  const pending = page.waitForEvent('download');
  await panel.getByTestId('race-export-csv').click();
  const csv = readFileSync(await (await pending).path(), 'utf8')
    .trim()
    .split('\n');
  expect(csv[0]).toBe('lane,method,seed,step,training_tokens,loss,heldout_ppl');
  expect(csv.length).toBe(1 + 5 + 3 + 5 + 1);
  expect(csv.filter((l) => l.startsWith('dha,dha,1,2,2048,'))).toHaveLength(1);
  expect(csv.filter((l) => l.startsWith('dha-e2e,dha,1,4,2048,'))).toHaveLength(1);

  // Compare: each point carries its training tokens; a mean-pool run without training (0 tokens) joins them, and the
  // token-budget filter shows the runs of one total
  const fusion = page.getByTestId('fusion-panel');
  await fusion.getByTestId('fusion-method-meanpool').check();
  await fusion.getByTestId('fusion-run').click();
  await expect(fusionRows).toHaveCount(4, { timeout: 240_000 });
  const compare = page.getByTestId('compare-panel');
  const points = compare.getByTestId('pareto-point');
  await expect(points).toHaveCount(4);
  await expect(compare.locator('[data-testid="pareto-point"][data-tokens="2048"]')).toHaveCount(3);
  await expect(compare.locator('[data-testid="pareto-point"][data-tokens="0"]')).toHaveCount(1);
  await expect(compare.locator('[data-testid="pareto-point"][data-tokens="2048"]').first().locator('title')).toContainText('after 2,048 training tokens');
  const filter = compare.getByTestId('pareto-tokens');
  await expect(filter.locator('option')).toHaveText(['all runs', '0 tokens (1 run)', '2,048 tokens (3 runs)']);
  await filter.selectOption({ index: 2 });
  await expect(points).toHaveCount(3);
  await expect(compare.getByTestId('pareto-chart')).toContainText('The runs trained on 2,048 tokens of the same text');
  await filter.selectOption({ index: 1 });
  await expect(points).toHaveCount(1);
  await filter.selectOption('all');
  await expect(points).toHaveCount(4);
  await compare.getByTestId('pareto-chart-log').check();
  await expect(compare.getByTestId('pareto-chart')).toHaveAttribute('data-y-scale', 'log');

  // the ladder as a preset of lanes: one recipe choice per lane, from mean-pool to DHA's own steps and progressive fusion
  await panel.getByTestId('race-ladder').click();
  for (const m of [
    'meanpool',
    'by-cost',
    'align-only',
    'aligned',
    'separate',
    'free-sizes',
    'dha-e2e',
    'joint-e2e',
    'dha-joint',
    'dha-progressive',
    'dha-progressive-all',
  ])
    await expect(panel.getByTestId(`race-method-${m}`)).toBeChecked();
  for (const m of ['dha', 'dha-uniform', 'mla']) await expect(panel.getByTestId(`race-method-${m}`)).not.toBeChecked();
});
