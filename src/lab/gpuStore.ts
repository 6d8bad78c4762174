// The page's GPU state, as the compute core reports it: where the core runs (a Web Worker, or the page where WebGPU exists
// only there), the adapter summary, device loss and recovery, and the kernel self-test — in the core, or on the page's own
// device for comparison.
import { create } from 'zustand';
import type { AdapterSummary } from '../gpu/adapter';
import { createBrowserRuntime } from '../gpu/browser';
import { runSelfTest, selfTestCases, type SelfTestResult } from '../gpu/selftest';
import { compute, type ComputeWhere } from './compute/client';

export type GpuStatus = 'idle' | 'acquiring' | 'ready' | 'lost' | 'recovering' | 'error';
export type SelfTestWhere = 'worker' | 'page';

interface GpuState {
  status: GpuStatus;
  summary: AdapterSummary | null;
  /** Where the compute core runs. */
  where: ComputeWhere | null;
  error: string | null;
  notice: string | null;
  selfTest: { running: boolean; where: SelfTestWhere; results: SelfTestResult[]; error: string | null; total: number };
  acquire: () => Promise<void>;
  runSelfTest: (where: SelfTestWhere) => Promise<void>;
  cancelSelfTest: () => void;
}

let selfTestJob: number | null = null;
/** The request for the adapter in flight: a second caller (React's development double effects) waits for the same one. */
let acquiring: Promise<void> | null = null;
let cancelRequested = false;

export const useGpu = create<GpuState>((set, get) => ({
  status: 'idle',
  summary: null,
  where: null,
  error: null,
  notice: null,
  selfTest: { running: false, where: 'worker', results: [], error: null, total: 0 },

  acquire: async () => {
    if (acquiring) return acquiring;
    if (get().summary) return;
    let done!: () => void;
    acquiring = new Promise<void>((r) => (done = r));
    set({ status: 'acquiring', error: null });
    compute.onNotice((n) => {
      if (n.status === 'lost') set({ status: 'recovering', notice: n.message });
      else if (n.status === 'recovered') set({ status: 'ready', notice: n.message });
      else set({ status: 'error', error: n.message });
    });
    try {
      const summary = await compute.run('init', {}).result;
      const where = compute.where;
      set({
        status: 'ready',
        summary,
        where,
        notice:
          where === 'page'
            ? 'This browser offers WebGPU only on the page’s main thread, so the lab computes there: the page may pause during long work.'
            : null,
      });
    } catch (e) {
      set({ status: 'error', where: compute.where, error: e instanceof Error ? e.message : String(e) });
    } finally {
      acquiring = null;
      done();
    }
  },

  runSelfTest: async (where) => {
    const total = selfTestCases().length;
    cancelRequested = false;
    set({ selfTest: { running: true, where, results: [], error: null, total } });
    const push = (r: SelfTestResult) => set((s) => ({ selfTest: { ...s.selfTest, results: [...s.selfTest.results, r] } }));
    try {
      if (where === 'worker') {
        const job = compute.run('selftest', {}, push);
        selfTestJob = job.id;
        await job.result;
      } else {
        // The page's own device, beside the core's: the compute core runs unchanged on both.
        const rt = await createBrowserRuntime();
        try {
          for await (const r of runSelfTest(rt)) {
            push(r);
            if (cancelRequested) break;
          }
        } finally {
          rt.destroy();
        }
      }
      set((s) => ({ selfTest: { ...s.selfTest, running: false, error: cancelRequested ? 'Cancelled.' : null } }));
    } catch (e) {
      set((s) => ({ selfTest: { ...s.selfTest, running: false, error: e instanceof Error ? e.message : String(e) } }));
    } finally {
      selfTestJob = null;
    }
  },

  cancelSelfTest: () => {
    cancelRequested = true;
    if (selfTestJob !== null) compute.control(selfTestJob, 'cancel');
  },
}));
