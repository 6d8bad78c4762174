// The controls every long run of the page offers (the Fuse panel's run, the recovery race): the compute core's job that is
// running now, and pause (before its next training step), resume, one step and cancel acting on it. One helper for every
// store, so that the glue is written once.
import { compute } from './compute/client';

export interface RunControlState {
  running: boolean;
  paused: boolean;
}

export interface JobControl {
  /** The job now running (a new one starts paused when a pause was asked for before it began). */
  attach: (id: number) => void;
  /** Forgets the job when it is the one attached. */
  detach: (id: number) => void;
  /** Whether a cancel was asked for since the last `begin`. */
  readonly cancelled: boolean;
  /** A new run starts: no cancel asked for yet. */
  begin: () => void;
  pause: () => void;
  resume: () => void;
  step: () => void;
  cancel: () => void;
  /** Cancels the job and forgets it (a store's reset). */
  drop: () => void;
}

export function jobControl(get: () => RunControlState, setPaused: (paused: boolean) => void): JobControl {
  let job: number | null = null;
  let cancelled = false;
  return {
    attach: (id) => {
      job = id;
      if (get().paused) compute.control(id, 'pause');
    },
    detach: (id) => {
      if (job === id) job = null;
    },
    get cancelled() {
      return cancelled;
    },
    begin: () => {
      cancelled = false;
    },
    pause: () => {
      if (!get().running) return;
      if (job !== null) compute.control(job, 'pause');
      setPaused(true);
    },
    resume: () => {
      if (job !== null) compute.control(job, 'resume');
      setPaused(false);
    },
    step: () => {
      if (job !== null) compute.control(job, 'step');
    },
    cancel: () => {
      cancelled = true;
      if (job !== null) compute.control(job, 'cancel');
    },
    drop: () => {
      cancelled = true;
      if (job !== null) compute.control(job, 'cancel');
      job = null;
    },
  };
}
