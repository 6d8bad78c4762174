// The pause gate of a run in the page: the core awaits `wait` before every training step (DHA's stages and end-to-end
// training alike). Pause holds the next step, Step lets exactly one through, Resume releases it, and an abort (cancel)
// ends the wait with the signal's error.
import { throwIfAborted } from '../progress';

export class StepGate {
  paused = false;
  private allow = 0;
  private waiters: (() => void)[] = [];

  /** `onWaiting(true)` when a step is held at the gate, `false` when it goes on. */
  constructor(private readonly onWaiting: (waiting: boolean) => void = () => {}) {}

  reset() {
    this.paused = false;
    this.allow = 0;
    this.wake();
  }

  pause() {
    this.paused = true;
  }

  resume() {
    this.paused = false;
    this.allow = 0;
    this.wake();
  }

  /** While paused: let one step through. */
  step() {
    if (!this.paused) return;
    this.allow = 1;
    this.wake();
  }

  /** Wakes every waiter (after an abort, so that it can throw). */
  wake() {
    this.waiters.splice(0).forEach((w) => w());
  }

  /** Resolves when the next step may run. */
  async wait(signal: AbortSignal): Promise<void> {
    for (;;) {
      throwIfAborted(signal);
      if (!this.paused) return;
      if (this.allow > 0) {
        this.allow--;
        return;
      }
      this.onWaiting(true);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.onWaiting(false);
    }
  }
}
