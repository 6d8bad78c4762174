// Web Worker: the DOM-free compute core on the worker's own GPU device, streaming self-test results to the page.
import { createBrowserRuntime } from '../gpu/browser';
import { runSelfTest } from '../gpu/selftest';

self.onmessage = async (ev: MessageEvent) => {
  if ((ev.data as { type: string }).type !== 'selftest') return;
  try {
    const rt = await createBrowserRuntime();
    for await (const result of runSelfTest(rt)) self.postMessage({ type: 'result', result: { ...result, kernel: result.kernel } });
    self.postMessage({ type: 'done', host: rt.host });
    rt.destroy();
  } catch (e) {
    self.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
};
