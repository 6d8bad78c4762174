// Loading models in the page: the built-in demo, the file chooser, drag and drop, a URL, cancel, and errors that leave the
// lab usable. Checkpoints are read from the repository's testdata/.
import { expect, test, type Page } from '@playwright/test';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { testdata } from '../test/testdata';

async function expectCard(page: Page, fields: Record<string, string | RegExp>) {
  for (const [id, value] of Object.entries(fields)) await expect(page.getByTestId(`card-${id}`)).toContainText(value);
}

/** Drops files on the drop zone as a browser would: a DataTransfer holding File objects. */
async function drop(page: Page, files: { name: string; path: string }[]) {
  const payload = files.map((f) => ({ name: f.name, b64: readFileSync(f.path).toString('base64') }));
  const dataTransfer = await page.evaluateHandle((items) => {
    const dt = new DataTransfer();
    for (const { name, b64 } of items) {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      dt.items.add(new File([bytes], name));
    }
    return dt;
  }, payload);
  await page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer });
}

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
});

test('the page opens on the built-in demo, with no network', async ({ page }) => {
  const outside: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('http://127.0.0.1')) outside.push(r.url());
  });
  await page.goto('/');
  await expectCard(page, {
    name: 'built-in demo',
    family: 'llama2c',
    'layers-heads': '4 × 8',
    'kv-heads': '8 K / 8 V in every layer',
    'head-dim': '16',
    dims: '128 · 344 · 259',
    context: '512 tokens',
    'kv-bytes': '4.00 KiB per token in f32 (2.00 KiB in 16 bits)',
    tokenizer: 'llama2c',
  });
  await expect(page.getByTestId('card-gpu')).toContainText('every tensor fits one binding');
  expect(outside).toEqual([]);
});

test('the file chooser opens a llama2.c checkpoint with its tokenizer, and a sharded Hugging Face folder', async ({ page }) => {
  await page.goto('/');
  await expectCard(page, { name: 'built-in demo' });
  await page.getByTestId('file-input').setInputFiles([testdata('data/stories260K.bin'), testdata('data/tok512.bin')]);
  await expectCard(page, {
    name: 'stories260K.bin',
    params: '260.0 K',
    'layers-heads': '5 × 8',
    'kv-heads': '4 K / 4 V in every layer',
    'head-dim': '8',
    'kv-bytes': '1.25 KiB per token',
    tokenizer: 'llama2c',
    kinds: 'interleaved pairs',
  });
  const dir = testdata('fixtures/hf/llama-mha-sharded');
  const files = readdirSync(dir)
    .filter((f) => f !== 'golden.safetensors')
    .map((f) => path.join(dir, f));
  expect(files.length).toBe(19);
  await page.getByTestId('file-input').setInputFiles(files);
  await expectCard(page, { family: 'llama (LlamaForCausalLM)', 'layers-heads': '3 × 4', 'kv-heads': '4 K / 4 V in every layer', kinds: 'rotate-half' });
  // "Open folder…": a whole Hugging Face folder
  await page.getByTestId('folder-input').setInputFiles(testdata('fixtures/hf/gpt-neox'));
  await expectCard(page, { name: 'gpt-neox', family: 'gpt-neox (GPTNeoXForCausalLM)', kinds: 'rotate-half, 25% of dims' });
});

test('drag and drop opens a Hugging Face folder (GPT-2 and BF16 Llama GQA)', async ({ page }) => {
  await page.goto('/');
  await expectCard(page, { name: 'built-in demo' });
  await drop(page, [
    { name: 'config.json', path: testdata('fixtures/hf/gpt2/config.json') },
    { name: 'model.safetensors', path: testdata('fixtures/hf/gpt2/model.safetensors') },
  ]);
  await expectCard(page, {
    family: 'gpt2 (GPT2LMHeadModel)',
    'layers-heads': '2 × 4',
    kinds: 'learned · layernorm · gelu_tanh',
    'kv-bytes': '1.00 KiB per token',
  });
  await drop(page, [
    { name: 'config.json', path: testdata('fixtures/hf/llama-gqa-bf16/config.json') },
    { name: 'model.safetensors', path: testdata('fixtures/hf/llama-gqa-bf16/model.safetensors') },
  ]);
  await expectCard(page, { 'kv-heads': '2 K / 2 V in every layer', 'head-dim': '16', 'kv-bytes': '512 B per token' });
});

test('a corrupt file shows its error, the previous model stays, and the next good file loads', async ({ page }) => {
  await page.goto('/');
  await expectCard(page, { name: 'built-in demo' });
  const good = readFileSync(testdata('fixtures/hf/gpt2/model.safetensors'));
  await page.getByTestId('file-input').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: readFileSync(testdata('fixtures/hf/gpt2/config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: good.subarray(0, good.length - 1000) },
  ]);
  await expect(page.getByTestId('model-error')).toContainText('model.safetensors');
  await expect(page.getByTestId('model-error')).toContainText('truncated');
  await expect(page.getByTestId('model-error')).toContainText('Still loaded: demo-mha-bytes');
  await expectCard(page, { name: 'built-in demo' });

  await page
    .getByTestId('file-input')
    .setInputFiles([{ name: 'weights.gguf.bin', mimeType: 'application/octet-stream', buffer: Buffer.from('GGUF\x03\0\0\0' + 'x'.repeat(100)) }]);
  await expect(page.getByTestId('model-error')).toContainText('GGUF');

  await page.getByTestId('file-input').setInputFiles([testdata('data/tinystories-mha.bin'), testdata('data/tok512.bin')]);
  await expect(page.getByTestId('model-error')).toHaveCount(0);
  await expectCard(page, { name: 'tinystories-mha.bin', 'layers-heads': '4 × 8', context: '256 tokens' });
});

test('?model= fetches a checkpoint by URL, finds its tokenizer beside it, and a download can be cancelled', async ({ page }) => {
  await page.route(
    (u) => u.pathname.startsWith('/remote/'),
    async (route) => {
      const name = new URL(route.request().url()).pathname.split('/').pop()!;
      const local: Record<string, string> = { 'stories260K.bin': testdata('data/stories260K.bin'), 'tok512.bin': testdata('data/tok512.bin') };
      if (!local[name]) return route.fulfill({ status: 404, body: 'not found' });
      await route.fulfill({ status: 200, body: readFileSync(local[name]), headers: { 'content-type': 'application/octet-stream' } });
    },
  );
  await page.goto('/?model=/remote/models/stories260K.bin');
  await expectCard(page, { name: 'stories260K.bin', 'layers-heads': '5 × 8', tokenizer: 'llama2c' });

  // A download that never finishes: cancel keeps the loaded model.
  await page.route(
    (u) => u.pathname.startsWith('/slow/'),
    () => {
      /* never answered */
    },
  );
  await page.getByTestId('url-input').fill('/slow/model.bin');
  await page.getByTestId('url-input').press('Enter');
  await expect(page.getByTestId('model-loading')).toBeVisible();
  await page.getByTestId('model-cancel').click();
  await expect(page.getByTestId('model-loading')).toHaveCount(0);
  await expect(page.getByText('Loading was cancelled; the previous model is still loaded.')).toBeVisible();
  await expectCard(page, { name: 'stories260K.bin' });
});
