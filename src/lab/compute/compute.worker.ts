// The page's Web Worker: the compute core (src/lab/compute/host.ts) on the worker's own GPU device. It answers a probe first,
// so that the page can fall back to running the core itself when this browser offers WebGPU only on the main thread.
import { ComputeHost } from './host';
import { JOBS } from './jobs';
import type { Message, Reply } from './protocol';

const scope = self as unknown as { postMessage: (m: unknown, t?: Transferable[]) => void; onmessage: ((e: MessageEvent) => void) | null; navigator: Navigator };
const host = new ComputeHost((reply: Reply, transfer?: Transferable[]) => scope.postMessage(reply, transfer ?? []), JOBS);

scope.onmessage = (e: MessageEvent) => {
  const m = e.data as Message | { probe: true };
  if ('probe' in m) {
    scope.postMessage({ probe: true, webgpu: Boolean(scope.navigator?.gpu) });
    return;
  }
  void host.handle(m);
};
