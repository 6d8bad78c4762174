// The page's GPU state: one runtime, its adapter summary, device-loss handling and the kernel self-test.
import { create } from 'zustand';
import type { AdapterSummary, GpuRuntime } from '../gpu/runtime';
import { createBrowserRuntime } from '../gpu/browser';
import { runSelfTest, selfTestCases, type SelfTestResult } from '../gpu/selftest';

export type GpuStatus = 'idle' | 'acquiring' | 'ready' | 'lost' | 'recovering' | 'error';
export type SelfTestWhere = 'page' | 'worker';

interface GpuState {
  status: GpuStatus;
  runtime: GpuRuntime | null;
  summary: AdapterSummary | null;
  error: string | null;
  notice: string | null;
  selfTest: { running: boolean; where: SelfTestWhere; results: SelfTestResult[]; error: string | null; total: number };
  acquire: () => Promise<void>;
  recover: () => Promise<void>;
  runSelfTest: (where: SelfTestWhere) => Promise<void>;
  cancelSelfTest: () => void;
}

let cancelRequested = false;

export const useGpu = create<GpuState>((set, get) => ({
  status: 'idle',
  runtime: null,
  summary: null,
  error: null,
  notice: null,
  selfTest: { running: false, where: 'page', results: [], error: null, total: 0 },

  acquire: async () => {
    if (get().status === 'acquiring' || get().runtime) return;
    set({ status: 'acquiring', error: null });
    try {
      const runtime = await createBrowserRuntime();
      runtime.onDeviceLost((e) => {
        set({ status: 'lost', notice: e.message });
        void get().recover();
      });
      set({ status: 'ready', runtime, summary: runtime.summary });
    } catch (e) {
      set({ status: 'error', error: e instanceof Error ? e.message : String(e) });
    }
  },

  recover: async () => {
    const rt = get().runtime;
    if (!rt) return;
    set({ status: 'recovering' });
    try {
      await rt.recover();
      set({ status: 'ready', summary: rt.summary, notice: 'The GPU device was lost and has been recreated. Run the last step again.' });
    } catch (e) {
      set({ status: 'error', error: e instanceof Error ? e.message : String(e) });
    }
  },

  runSelfTest: async (where) => {
    const total = selfTestCases().length;
    cancelRequested = false;
    set({ selfTest: { running: true, where, results: [], error: null, total } });
    const push = (r: SelfTestResult) => set((s) => ({ selfTest: { ...s.selfTest, results: [...s.selfTest.results, r] } }));
    try {
      if (where === 'worker') await selfTestInWorker(push);
      else {
        const rt = get().runtime;
        if (!rt) throw new Error('No GPU device: WebGPU is not available on this page.');
        for await (const r of runSelfTest(rt)) {
          push(r);
          if (cancelRequested) break;
        }
      }
      set((s) => ({ selfTest: { ...s.selfTest, running: false, error: cancelRequested ? 'Cancelled.' : null } }));
    } catch (e) {
      set((s) => ({ selfTest: { ...s.selfTest, running: false, error: e instanceof Error ? e.message : String(e) } }));
    }
  },

  cancelSelfTest: () => {
    cancelRequested = true;
    activeWorker?.terminate();
  },
}));

let activeWorker: Worker | null = null;

/** The same self-test in a Web Worker: the compute core runs there unchanged, on the worker's own GPU device. */
function selfTestInWorker(push: (r: SelfTestResult) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./selftest.worker.ts', import.meta.url), { type: 'module' });
    activeWorker = worker;
    const done = (err?: Error) => {
      worker.terminate();
      activeWorker = null;
      if (err) reject(err);
      else resolve();
    };
    worker.onmessage = (ev: MessageEvent) => {
      const m = ev.data as { type: 'result'; result: SelfTestResult } | { type: 'done' } | { type: 'error'; message: string };
      if (m.type === 'result') push(m.result);
      else if (m.type === 'done') done();
      else done(new Error(m.message));
    };
    worker.onerror = (ev) => done(new Error(`The worker failed: ${ev.message}`));
    worker.postMessage({ type: 'selftest' });
    const check = setInterval(() => {
      if (cancelRequested) {
        clearInterval(check);
        done();
      }
    }, 100);
  });
}
