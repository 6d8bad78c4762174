// A lab a teacher can hand out: every setting in the page address (a link opens with its settings, reproduces a run's
// numbers in a fresh browser profile, hides and locks controls, shows a lesson, notes what it could not use), results that
// survive a reload (rows with their downloads, until Clear saved results), the compute core in a Web Worker (the main thread
// never blocks 200 ms during DHA), and the keys (Space, →, Escape).
import { expect, test, type Page } from '@playwright/test';

const SMALL_RUN = 'fuse.calTokens=512&fuse.evalDocs=2&fuse.train.steps=2&fuse.train.batch=2&fuse.train.seq=32&fuse.train.evalEvery=1';

async function demo(page: Page, hash = '') {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`/${hash}`);
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
}

test('a link opens with its settings, notes what it ignored, and the page keeps its address up to date', async ({ page }) => {
  await demo(
    page,
    '#fuse.method=dha&fuse.budget=25&fuse.steps=3&sim.metric=aligned&race.budget=50&eval.prompt=The%20cat&fuse.train.lr=0.002&fuse.seqLen=99999&nonsense=1',
  );
  const fusion = page.getByTestId('fusion-panel');
  await expect(fusion.getByTestId('fusion-method-dha')).toBeChecked();
  await expect(fusion.getByTestId('fusion-budget-25')).toBeChecked();
  await expect(fusion.getByTestId('fusion-steps')).toHaveValue('3');
  await expect(fusion.getByTestId('fusion-train-lr')).toHaveValue('0.002');
  await expect(fusion.getByTestId('fusion-seq-len')).toHaveValue('128'); // out of range: the CPU default is kept
  await expect(page.getByTestId('sim-metric')).toHaveValue('aligned');
  await expect(page.getByTestId('race-budget')).toHaveValue('50');
  await expect(page.getByTestId('gen-prompt')).toHaveValue('The cat');
  const notes = page.getByTestId('settings-notes');
  await expect(notes).toContainText('fuse.seqLen: 99999 is outside 2 … 8192');
  await expect(notes).toContainText('unknown setting "nonsense" ignored');
  // a change is written back into the address
  await fusion.getByTestId('fusion-steps').fill('7');
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('fuse.steps=7');
  expect(await page.evaluate(() => location.hash)).toContain('model=demo');
  // Copy link: the clipboard, or the link shown to copy by hand
  await page.getByTestId('copy-link').click();
  await expect(page.getByTestId('copy-link-status')).toContainText(/Link copied|#.*fuse\.steps=7/);
  // the compute core runs in a Web Worker
  expect(await page.evaluate(() => (globalThis as unknown as { headlab: { where: () => string } }).headlab.where())).toBe('worker');
  await expect(page.getByTestId('compute-where')).toHaveAttribute('data-where', 'worker');
});

test('the same link gives the same perplexity twice, in fresh browser profiles', async ({ browser }) => {
  test.setTimeout(300_000);
  const ppl: number[] = [];
  for (let i = 0; i < 2; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await demo(page, `#fuse.method=meanpool&fuse.budget=25&${SMALL_RUN}`);
    const fusion = page.getByTestId('fusion-panel');
    await fusion.getByTestId('fusion-run').click();
    const cell = fusion.getByTestId('fusion-row-ppl');
    await expect(cell).toHaveCount(1, { timeout: 240_000 });
    ppl.push(Number(await cell.getAttribute('data-after')));
    await context.close();
  }
  expect(ppl[0]).toBeGreaterThan(1);
  expect(ppl[1]).toBe(ppl[0]);
});

test('a lesson link hides and locks controls and shows its text; Share as lesson builds one', async ({ page }) => {
  await demo(page, `#hide=fuse.seed,race&lock=fuse.method,sim.metric&lesson=${encodeURIComponent('Step 1: fuse with mean-pool.\nStep 2: compare.')}`);
  const lesson = page.getByTestId('lesson');
  await expect(lesson.locator('p')).toHaveText(['Step 1: fuse with mean-pool.', 'Step 2: compare.']);
  await expect(page.getByTestId('fusion-seed')).toHaveCount(0);
  await expect(page.getByTestId('race-panel')).toHaveCount(0);
  await expect(page.getByTestId('fusion-recipe')).toBeVisible();
  await expect(page.getByTestId('fusion-method-meanpool')).toBeDisabled();
  await expect(page.getByTestId('fusion-method-dha')).toBeDisabled();
  await expect(page.getByTestId('sim-metric')).toBeDisabled();
  await expect(page.getByTestId('fusion-budget-25')).toBeEnabled();

  await page.getByTestId('share-lesson').click();
  const dialog = page.getByTestId('share-dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByTestId('share-lesson-text').fill('Try DHA.');
  await dialog.getByTestId('share-hide-eval').check();
  await dialog.getByTestId('share-lock-fuse.budget').check();
  const link = await dialog.getByTestId('share-link').inputValue();
  const hash = new URLSearchParams(link.slice(link.indexOf('#') + 1));
  expect(hash.get('lesson')).toBe('Try DHA.');
  expect(hash.get('hide')!.split(',')).toEqual(expect.arrayContaining(['fuse.seed', 'race', 'eval']));
  expect(hash.get('lock')!.split(',')).toEqual(expect.arrayContaining(['fuse.method', 'sim.metric', 'fuse.budget']));
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await page.goto(link);
  await expect(page.getByTestId('lesson')).toHaveText('Try DHA.');
  await expect(page.getByTestId('eval-panel')).toHaveCount(0);
  await expect(page.getByTestId('fusion-budget-50')).toBeDisabled();
});

test('a reload keeps the results table and its downloads, until Clear saved results', async ({ page }) => {
  test.setTimeout(300_000);
  await demo(page, '#fuse.method=meanpool&fuse.budget=50&fuse.evalDocs=2');
  const fusion = page.getByTestId('fusion-panel');
  await fusion.getByTestId('fusion-run').click();
  const rows = fusion.getByTestId('fusion-row');
  await expect(rows).toHaveCount(1, { timeout: 240_000 });
  const after = await rows.getByTestId('fusion-row-ppl').getAttribute('data-after');
  // the row's files are saved as they are added: reload once the save has finished
  await expect(page.getByTestId('clear-saved')).toHaveAttribute('data-writes', '1');
  await page.reload();
  await expect(page.getByTestId('saved-status')).toContainText('Restored from this browser: 1 fusion result', { timeout: 60_000 });
  await expect(rows).toHaveCount(1);
  await expect(rows.getByTestId('fusion-row-ppl')).toHaveAttribute('data-after', after!);
  const pending = page.waitForEvent('download');
  await fusion.getByTestId('fusion-row-actions').getByTestId('fusion-download-experiment.json').click();
  const file = await pending;
  const { readFileSync } = await import('node:fs');
  expect(JSON.parse(readFileSync((await file.path())!, 'utf8'))).toMatchObject({ method: 'meanpool', budget: 0.5, pplAfter: Number(after) });
  // continuations of a restored run: its saved files load back into the compute core
  await fusion.getByTestId('fusion-compare-tokens').fill('8');
  await fusion.getByTestId('fusion-row-actions').getByTestId('fusion-compare').click();
  await expect
    .poll(async () => ((await fusion.getByTestId('fusion-continuation-fused').getByTestId('fusion-continuation-text').textContent()) ?? '').length, {
      timeout: 120_000,
    })
    .toBeGreaterThan(16);
  await page.getByTestId('clear-saved').click();
  await expect(page.getByTestId('saved-status')).toContainText('removed');
  await page.reload();
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  await page.waitForTimeout(1500);
  await expect(rows).toHaveCount(0);
});

test('during DHA the main thread never blocks 200 ms; Space pauses, → steps, Escape cancels', async ({ page }) => {
  test.setTimeout(300_000);
  await page.addInitScript(() => {
    const w = window as unknown as { longTasks: { start: number; duration: number }[] };
    w.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  await demo(page, '#fuse.method=dha&fuse.budget=25&fuse.steps=6&fuse.tokensPerStep=256&fuse.calTokens=1024&fuse.evalDocs=2');
  const fusion = page.getByTestId('fusion-panel');
  const t0 = await page.evaluate(() => performance.now());
  await fusion.getByTestId('fusion-run').click();
  const counter = fusion.getByTestId('fusion-step');
  await expect(counter).toHaveAttribute('data-step', /[1-5]/, { timeout: 240_000 });
  await page.locator('body').press(' '); // Space: pause
  await expect(fusion.getByTestId('fusion-status')).toContainText('Paused before step', { timeout: 120_000 });
  const held = Number(await counter.getAttribute('data-step'));
  await page.locator('body').press('ArrowRight'); // one step
  await expect(counter).toHaveAttribute('data-step', String(held + 1), { timeout: 120_000 });
  await expect(fusion.getByTestId('fusion-status')).toContainText(`Paused before step ${held + 2}`, { timeout: 120_000 });
  await page.locator('body').press(' '); // resume
  await expect(fusion.getByTestId('fusion-pause')).toHaveText('Pause');
  await expect(fusion.getByTestId('fusion-row')).toHaveCount(1, { timeout: 240_000 });
  const longest = await page.evaluate(
    (since) =>
      Math.max(
        0,
        ...(window as unknown as { longTasks: { start: number; duration: number }[] }).longTasks.filter((t) => t.start >= since).map((t) => t.duration),
      ),
    t0,
  );
  console.log(`longest main-thread task during the DHA run: ${longest.toFixed(0)} ms`);
  expect(longest).toBeLessThan(200);
  // Escape cancels a run
  await fusion.getByTestId('fusion-run').click();
  await expect(fusion.getByTestId('fusion-status')).toContainText('Running');
  await page.locator('body').press('Escape');
  await expect(fusion.getByTestId('fusion-error')).toHaveText('Cancelled.', { timeout: 120_000 });
  await expect(fusion.getByTestId('fusion-row')).toHaveCount(1);
});
