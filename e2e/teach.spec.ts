// Teaching views on the built-in demo: the head layout drawn from the model's own maps (MHA, a mean-pooled GQA result, DHA's
// decoupled K and V), the guided tour with its step in the address, the Pareto view of every run, one head's attention
// before and after a merge, the section navigation and dark mode.
import { expect, test, type Page } from '@playwright/test';

async function demo(page: Page, hash = '') {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`/${hash}`);
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
}

test('head layouts: the loaded MHA model, then a mean-pooled and a DHA result drawn from their maps; Pareto; attention before and after', async ({ page }) => {
  test.setTimeout(360_000);
  await demo(page, '#fuse.calTokens=1024&fuse.evalDocs=2&fuse.tokensPerStep=256');
  const loaded = page.locator('[data-testid="head-map"][data-model="loaded"]');
  await expect(loaded.getByTestId('head-map-layer')).toHaveCount(4);
  await expect(loaded.locator('[data-testid="head-map-kv-head"][data-kind="k"]')).toHaveCount(32);
  await expect(loaded.locator('[data-testid="head-map-kv-head"][data-kind="v"]')).toHaveCount(32);
  await expect(loaded.getByTestId('head-map-link')).toHaveCount(64); // every query head: one line to its K head, one to its V head
  await expect(page.getByTestId('model-head-layout-kv')).toHaveAttribute('data-bytes', '4096');
  // hovering a KV head names the original head and the query heads that read it
  const k3 = loaded.locator('[data-testid="head-map-layer"][data-layer="1"] [data-testid="head-map-kv-head"][data-kind="k"][data-head="3"]');
  await expect(k3).toHaveAttribute('data-readers', '3');
  await k3.hover();
  await expect(k3.locator('title')).toHaveText(/layer 1, K head 3: original K head 3; read by query head 3/);

  const fusion = page.getByTestId('fusion-panel');
  await fusion.getByTestId('fusion-method-meanpool').check();
  await fusion.getByTestId('fusion-budget-25').check();
  await fusion.getByTestId('fusion-run').click();
  await expect(fusion.getByTestId('fusion-row')).toHaveCount(1, { timeout: 120_000 });
  const result = page.locator('[data-testid="head-map"][data-model="result"]');
  await expect(result.locator('[data-testid="head-map-kv-head"][data-kind="k"]')).toHaveCount(8); // 2 per layer
  const merged = result.locator('[data-testid="head-map-layer"][data-layer="0"] [data-testid="head-map-kv-head"][data-kind="k"][data-head="1"]');
  await expect(merged).toHaveAttribute('data-merged', '4,5,6,7');
  await expect(merged).toHaveAttribute('data-readers', '4,5,6,7');

  // DHA with 2 own steps (set by hand in the recipe: a hand-set count applies to any method, and the label says so): the
  // search plays its path on a head layout, and the result's K and V maps may differ per layer
  await fusion.getByTestId('fusion-method-dha').check();
  await fusion.getByTestId('fusion-recipe').locator('summary').click();
  await fusion.getByTestId('fusion-steps-auto').uncheck();
  await fusion.getByTestId('fusion-steps').fill('2');
  await fusion.getByTestId('fusion-run').click();
  await expect(page.locator('[data-testid="head-map"][data-model="search"]')).toBeVisible({ timeout: 120_000 });
  await expect(fusion.getByTestId('fusion-row')).toHaveCount(2, { timeout: 240_000 });
  const dhaMap = page.locator('[data-testid="head-map"][data-model="result"]');
  const kHeads = await dhaMap.locator('[data-testid="head-map-kv-head"][data-kind="k"]').count();
  const vHeads = await dhaMap.locator('[data-testid="head-map-kv-head"][data-kind="v"]').count();
  expect(kHeads).toBe(8);
  expect(vHeads).toBe(8);
  // clicking a row draws that result's layout
  await fusion.getByTestId('fusion-row').nth(0).click();
  await expect(page.locator('[data-testid="head-map"][data-model="result"]').locator('[data-testid="head-map-layer"][data-layer="0"]')).toHaveAttribute(
    'data-k-heads',
    '2',
  );

  // Pareto: one point per run, coloured by method, the original as the reference
  const compare = page.getByTestId('compare-panel');
  await expect(compare.getByTestId('pareto-point')).toHaveCount(2);
  await expect(compare.locator('[data-testid="pareto-point"][data-group="dha"]')).toHaveCount(1);
  await expect(compare.locator('[data-testid="pareto-point"][data-group="meanpool"]')).toHaveAttribute('data-x', '1024');
  await expect(compare.getByTestId('pareto-reference')).toHaveCount(1);
  await expect(compare.getByTestId('pareto-point').first().locator('title')).toContainText(/run 1: mean-pool at 25 %/);

  // attention of layer 1, query head 5, in the original and in the mean-pooled model (the selected row)
  await compare.getByTestId('attention-layer').fill('1');
  await compare.getByTestId('attention-head').fill('5');
  await compare.getByTestId('attention-prompt').fill('Once upon a time');
  await compare.getByTestId('attention-run').click();
  const original = compare.getByTestId('attention-original');
  const fused = compare.getByTestId('attention-fused');
  await expect(original).toBeVisible({ timeout: 60_000 });
  const T = 'Once upon a time'.length + 1 + 1; // BOS, the dummy space, one byte per character
  await expect(original.getByTestId('attention-cell')).toHaveCount((T * (T + 1)) / 2);
  await expect(fused).toContainText('reads K head 1, V head 1');
  await expect(original).toContainText('reads K head 5, V head 5');
});

test('the guided tour: every conversion at 25 %, one change per step, the model’s own head counts, its step in the address, an action per step, closable and resumable', async ({
  page,
}) => {
  test.setTimeout(420_000);
  await demo(page, '#sim.tokens=512&fuse.calTokens=1024&fuse.evalDocs=2');
  await page.getByTestId('tour-start').click();
  const tour = page.getByTestId('tour');
  await expect(tour.getByTestId('tour-step')).toHaveAttribute('data-step', '1');
  await expect(tour).toContainText('What the KV cache costs');
  // step 1 reads the loaded model: 4 layers × 8 query heads, 8 K and 8 V heads per layer, 4 KiB per token in float32
  const facts = tour.getByTestId('tour-model-facts');
  await expect(facts).toContainText('4 layers × 8 query heads, and every layer has 8 K heads and 8 V heads: multi-head attention');
  await expect(facts).toContainText('4.00 KiB per token');
  await expect(facts).toContainText('float32');
  await expect(page.locator('#model')).toHaveClass(/tour-target/);
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('tour=1');

  // step 2: the aligned metric (the rotations a merge may use), CKA's wider freedom said; the glossary defines the words
  await tour.getByTestId('tour-next').click();
  await expect(tour).toContainText('Which heads are alike');
  await expect(tour).toContainText('rotary plane');
  await expect(tour).toContainText('without alignment');
  await expect(page.locator('#similarity')).toHaveClass(/tour-target/);
  await tour.locator('[data-testid="glossary-link"][data-term="rotary-plane"]').click();
  await expect(page.locator('#glossary-rotary-plane')).toHaveClass(/glossary-shown/);
  await expect(page.locator('#glossary-rotary-plane')).toBeInViewport();
  await tour.getByTestId('tour-action').click(); // Compute aligned similarity
  await expect(page.getByTestId('sim-summary')).toContainText('aligned', { timeout: 120_000 });
  await expect(page.getByTestId('heatmap').first()).toBeVisible({ timeout: 120_000 });

  // steps 3–12 climb the ladder at one budget, each naming the one thing it changes; step 3 says the demo's perplexity is per byte
  const titles = [
    'GQA mean-pool at 25 %',
    'Group heads by cost, not by index',
    'Align before you average',
    'Give merged heads their energy back',
    'Partition K and V apart',
    'Let groups differ in size',
    'A head count for every layer (DHA)',
    'One budget for K and V together',
    'DHA’s own training',
    'Fuse progressively instead of at once',
  ];
  for (const [i, title] of titles.entries()) {
    await tour.getByTestId('tour-next').click();
    await expect(tour.getByTestId('tour-step')).toHaveAttribute('data-step', String(i + 3));
    await expect(tour.locator('h2')).toHaveText(title);
    await expect(tour.getByTestId('tour-action')).toContainText('at 25 %');
    await expect(page.locator('#fuse')).toHaveClass(/tour-target/);
    if (i === 0) await expect(tour).toContainText('per byte');
    if (i > 0) await expect(tour.getByTestId('tour-text')).toContainText('One change');
    if (i === 7) {
      // why decoupling K from V can pay, and the action: DHA with one joint K+V budget, none of its own steps, at 25 %
      await expect(tour).toContainText('V heads are far less alike than K heads');
      await tour.getByTestId('tour-action').click();
      const fusion = page.getByTestId('fusion-panel');
      await expect(fusion.getByTestId('fusion-kv-split')).toHaveValue('joint');
      await expect(fusion.getByTestId('fusion-budget-25')).toBeChecked();
      await expect(fusion.getByTestId('fusion-method-dha')).toBeChecked();
      await expect(fusion.getByTestId('fusion-steps')).toHaveValue('0');
      const row = fusion.getByTestId('fusion-row');
      await expect(row).toHaveCount(1, { timeout: 240_000 });
      await expect(row).toHaveAttribute('data-method', 'dha');
      await expect(row).toContainText('joint K+V');
      await expect(row.getByTestId('fusion-row-kv')).toHaveText('4,096 → 1,024'); // 25 % of all 64 K and V heads, however split
    }
  }
  // step 13: the latent, one change against DHA's joint budget three steps back; why RoPE is split off, the absorbed view
  await tour.getByTestId('tour-next').click();
  await expect(tour.getByTestId('tour-step')).toHaveAttribute('data-step', '13');
  await expect(tour.locator('h2')).toHaveText('Latent KV: keep every head, share a latent');
  await expect(tour.getByTestId('tour-text')).toContainText('One change against DHA with one joint budget');
  await expect(tour.getByTestId('tour-text')).toContainText('the same 25 % of the cache');
  await expect(tour.getByTestId('tour-action')).toHaveText('Convert to a latent KV cache at 25 %');
  await expect(page.locator('#fuse')).toHaveClass(/tour-target/);
  await tour.locator('[data-testid="glossary-link"][data-term="absorbed"]').click();
  await expect(page.locator('#glossary-absorbed')).toHaveClass(/glossary-shown/);
  // its action sets the whole conversion (the latent with its default choices, no recovery) and runs it
  await tour.getByTestId('tour-action').click();
  const fusion = page.getByTestId('fusion-panel');
  await expect(fusion.getByTestId('fusion-method-mla')).toBeChecked();
  await expect(fusion.getByTestId('fusion-budget-25')).toBeChecked();
  const latentRow = fusion.getByTestId('fusion-row').and(page.locator('[data-method="mla"]'));
  await expect(latentRow).toHaveCount(1, { timeout: 180_000 });
  await expect(latentRow.getByTestId('fusion-row-kv')).toHaveText('4,096 → 1,024'); // the same 25 % of the cache as step 7's DHA
  for (const [s, title, target] of [
    [14, 'Recovery at equal tokens', 'recover'],
    [15, 'The trade-off', 'compare'],
    [16, 'Fewer bits: where should the next byte go?', 'evaluate'],
    [17, 'What to try next', 'fuse'],
  ] as const) {
    await tour.getByTestId('tour-next').click();
    await expect(tour.getByTestId('tour-step')).toHaveAttribute('data-step', String(s));
    await expect(tour.locator('h2')).toHaveText(title);
    await expect(page.locator(`#${target}`)).toHaveClass(/tour-target/);
    if (s === 16) {
      // fewer bits: its action measures the loaded model through a 4-bit cache
      await tour.getByTestId('tour-action').click();
      await expect(page.getByTestId('kv-bits')).toHaveValue('4');
      await expect(page.getByTestId('ppl-cache')).toContainText('4-bit KV', { timeout: 120_000 });
    }
  }
  await expect(tour.getByTestId('tour-next')).toHaveText('Finish');
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('tour=17');
  // a link to a step opens the tour there; closing and resuming comes back to it
  await page.goto('/#tour=5');
  await page.reload();
  await expect(page.getByTestId('tour')).toContainText('Align before you average');
  await page.getByTestId('tour-close').click();
  await expect(page.getByTestId('tour')).toHaveCount(0);
  await expect(page.getByTestId('tour-start')).toHaveText('Resume the tour (step 5)');
  await page.getByTestId('tour-start').click();
  await expect(page.getByTestId('tour-step')).toHaveAttribute('data-step', '5');
});

test('a newcomer’s first click: Take the tour before the demo has loaded keeps the tour open once it arrives', async ({ page }) => {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  // The compute worker is held back until the click, so that the click surely comes before the page has read its address.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await page.route(/compute\.worker[^/]*\.js$/, async (route) => {
    await held;
    await route.continue();
  });
  await page.goto('/');
  await page.getByTestId('tour-start').click();
  const tour = page.getByTestId('tour');
  await expect(tour.getByTestId('tour-step')).toHaveAttribute('data-step', '1');
  await expect(tour.getByTestId('tour-model-facts')).toContainText('still loading');
  await expect(tour.getByTestId('tour-action')).toHaveCount(0);
  // nothing is written to the address before the link in it has been read
  await page.waitForTimeout(300);
  expect(await page.evaluate(() => location.hash)).toBe('');
  release();
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  await page.waitForTimeout(1000); // past the address written when the page read it and the model arrived
  await expect(tour).toBeVisible();
  await expect(tour.getByTestId('tour-step')).toHaveAttribute('data-step', '1');
  await expect(tour.getByTestId('tour-model-facts')).toContainText('4 layers × 8 query heads');
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('tour=1');
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('fuse.steps=20'); // the adapter's own defaults, read after it
  // and the same without holding anything back: a click as soon as the button is there
  await page.unroute(/compute\.worker[^/]*\.js$/);
  await page.evaluate(() => localStorage.clear());
  await page.goto('/');
  await page.getByTestId('tour-start').click();
  await expect(page.getByTestId('card-name')).toContainText('built-in demo');
  await page.waitForTimeout(1000);
  await expect(page.getByTestId('tour-step')).toHaveAttribute('data-step', '1');
});

for (const viewport of [
  { width: 1280, height: 800 },
  { width: 800, height: 1000 },
]) {
  test(`sections in order; the navigation marks the section at the reading line (${viewport.width}×${viewport.height})`, async ({ page }) => {
    await page.setViewportSize(viewport);
    await demo(page);
    const nav = page.getByTestId('nav');
    await expect(nav.getByRole('button')).toHaveText(['1. Model', '2. Similarity', '3. Fuse', '4. Recover', '5. Compare', 'Evaluate', 'GPU']);
    const ids = await page.locator('main > section').evaluateAll((s) => s.map((e) => e.id));
    expect(ids).toEqual(['model', 'similarity', 'fuse', 'recover', 'compare', 'evaluate', 'gpu']);
    await expect(nav.getByTestId('nav-model')).toHaveAttribute('aria-current', 'step');
    // a click makes that button current, whatever the layout lets the page scroll to
    for (const id of ['compare', 'fuse', 'gpu', 'similarity']) {
      await nav.getByTestId(`nav-${id}`).click();
      await expect(nav.getByTestId(`nav-${id}`)).toHaveAttribute('aria-current', 'step');
      await expect(nav.locator('[aria-current="step"]')).toHaveCount(1);
    }
    // the reader's own scroll: the section whose top is last above a third of the viewport
    const expected = async () =>
      page.evaluate(() => {
        const line = innerHeight / 3;
        let at = 'model';
        for (const s of document.querySelectorAll('main > section')) if (s.getBoundingClientRect().top <= line) at = s.id;
        return at;
      });
    // the last click's scroll settles (its pin ends with it, or a second after it); what follows is the reader's own
    const settled = () =>
      page.waitForFunction(
        () =>
          new Promise<boolean>((done) => {
            const y = scrollY;
            setTimeout(() => done(scrollY === y), 300);
          }),
        undefined,
        { polling: 100 },
      );
    await settled();
    await page.waitForTimeout(1100);
    for (const id of ['recover', 'model', 'evaluate']) {
      await page.evaluate((target) => {
        const el = document.getElementById(target)!;
        window.scrollTo({ top: el.getBoundingClientRect().top + scrollY - innerHeight / 4, behavior: 'instant' });
      }, id);
      const want = await expected();
      await expect(nav.getByTestId(`nav-${want}`)).toHaveAttribute('aria-current', 'step');
    }
  });
}

test('dark mode follows the system; the navigation is reachable from the keyboard', async ({ page }) => {
  await demo(page);
  const light = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  expect(dark).not.toBe(light);
  // every control is reachable from the keyboard: Tab lands on the first nav button early
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('BUTTON');
});
