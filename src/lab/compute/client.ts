// The page's side of the compute core: a Web Worker that owns the GPU device (the normal path), or — where this browser
// offers WebGPU only on the main thread — the same core on the page, said so in the GPU panel. Jobs are promises with event
// callbacks; a running job is paused, stepped or cancelled by its id. Notices (device lost, recovered) go to listeners.
import type { Jobs, JobType, Message, Reply } from './protocol';
import { CancelledError } from '../../progress';

export type ComputeWhere = 'worker' | 'page';

type Pending = { onEvent?: (e: unknown) => void; resolve: (v: unknown) => void; reject: (e: Error) => void };

export interface RunningJob<T extends JobType> {
  id: number;
  result: Promise<Jobs[T]['result']>;
}

/** An error from the core, keeping its name (ModelTooLargeError, …); a cancellation arrives as a CancelledError (errorFrom). */
export class ComputeError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export class ComputeClient {
  private readonly pending = new Map<number, Pending>();
  private readonly noticeListeners = new Set<(n: Extract<Reply, { kind: 'notice' }>) => void>();
  private nextId = 1;
  private send: ((m: Message) => void) | null = null;
  where: ComputeWhere | null = null;
  private starting: Promise<ComputeWhere> | null = null;

  /** Starts the worker; falls back to the page when the worker has no WebGPU but the page has. */
  start(): Promise<ComputeWhere> {
    this.starting ??= this.connect();
    return this.starting;
  }

  private async connect(): Promise<ComputeWhere> {
    const worker = typeof Worker === 'undefined' ? null : new Worker(new URL('./compute.worker.ts', import.meta.url), { type: 'module' });
    const workerHasGpu = worker
      ? await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 10_000);
          worker.onmessage = (e: MessageEvent) => {
            if ((e.data as { probe?: boolean }).probe) {
              clearTimeout(timer);
              resolve(Boolean((e.data as { webgpu: boolean }).webgpu));
            }
          };
          worker.onerror = () => {
            clearTimeout(timer);
            resolve(false);
          };
          worker.postMessage({ probe: true });
        })
      : false;
    const pageHasGpu = typeof navigator !== 'undefined' && Boolean(navigator.gpu);
    if (worker && (workerHasGpu || !pageHasGpu)) {
      worker.onmessage = (e: MessageEvent) => this.receive(e.data as Reply);
      this.send = (m) => worker.postMessage(m);
      this.where = 'worker';
    } else {
      worker?.terminate();
      const [{ ComputeHost }, { JOBS }] = await Promise.all([import('./host'), import('./jobs')]);
      const host = new ComputeHost((reply) => queueMicrotask(() => this.receive(reply)), JOBS);
      this.send = (m) => void host.handle(m);
      this.where = 'page';
    }
    return this.where;
  }

  private receive(r: Reply) {
    if (r.kind === 'notice') {
      this.noticeListeners.forEach((l) => l(r));
      return;
    }
    const p = this.pending.get(r.id);
    if (!p) return;
    if (r.kind === 'event') p.onEvent?.(r.event);
    else {
      this.pending.delete(r.id);
      if (r.kind === 'done') p.resolve(r.result);
      else p.reject(r.name === 'CancelledError' ? new CancelledError(r.message) : new ComputeError(r.name, r.message));
    }
  }

  /** Sends a job; events arrive through onEvent until the result settles. */
  run<T extends JobType>(type: T, args: Jobs[T]['args'], onEvent?: (e: Jobs[T]['event']) => void): RunningJob<T> {
    const id = this.nextId++;
    const result = new Promise<Jobs[T]['result']>((resolve, reject) => {
      this.pending.set(id, { onEvent: onEvent as (e: unknown) => void, resolve: resolve as (v: unknown) => void, reject });
    });
    void this.start().then(() => this.send!({ ...(args as object), id, type } as Message));
    return { id, result };
  }

  control(id: number, control: 'pause' | 'resume' | 'step' | 'cancel') {
    this.send?.({ id, control });
  }

  onNotice(listener: (n: Extract<Reply, { kind: 'notice' }>) => void): () => void {
    this.noticeListeners.add(listener);
    return () => this.noticeListeners.delete(listener);
  }
}

/** The page's one compute core. */
export const compute = new ComputeClient();
