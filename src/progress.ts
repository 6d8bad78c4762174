// Long work reports progress the same way everywhere — the UI, the CLI and the tests all watch these events.
export interface Progress {
  stage: string;
  done: number;
  total: number;
  detail?: string;
}

export type OnProgress = (p: Progress) => void;

export interface LongWorkOptions {
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

/** Long work stopped because its caller asked (an AbortSignal, Cancel in the page). The one cancellation type. */
export class CancelledError extends Error {
  constructor(message = 'Cancelled.') {
    super(message);
    this.name = 'CancelledError';
  }
}

export function isCancelled(e: unknown): e is CancelledError {
  return e instanceof CancelledError;
}

/** Throws CancelledError when the signal has fired: long work calls it between its steps. */
export function throwIfAborted(signal?: AbortSignal, message?: string): void {
  if (signal?.aborted) throw new CancelledError(message);
}

/**
 * The gate long work waits at between steps (the page's pause gate, src/lab/gate.ts; none in the CLI), counting the time spent
 * waiting so that reported seconds are work, not pauses.
 */
export class TimedGate {
  private waitedMs = 0;
  constructor(private readonly gate?: () => Promise<void>) {}

  async pass(): Promise<void> {
    if (!this.gate) return;
    const t0 = performance.now();
    await this.gate();
    this.waitedMs += performance.now() - t0;
  }

  get pausedSeconds(): number {
    return this.waitedMs / 1000;
  }
}
