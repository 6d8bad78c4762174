// The buttons and status line of a long run (the Fuse panel's run, the recovery race): Run, Pause/Resume (before the next
// training step), Step (one step while paused), Cancel and Reset, and what the run is doing. One component for every panel
// that runs something, so that the controls look and behave alike (Space, → and Escape reach the same store actions).
import type { ReactNode } from 'react';

export interface RunControlsProps {
  /** Test ids of the buttons and the status line, e.g. fusion-run, fusion-pause, fusion-step-once, fusion-cancel, fusion-reset. */
  ids: { run: string; pause: string; step: string; cancel: string; reset: string; status: string };
  runLabel: string;
  titles: { run: string; pause: string; cancel: string; reset: string };
  running: boolean;
  paused: boolean;
  /** The run is held at the pause gate (Step can let one step through). */
  waiting: boolean;
  stage: string | null;
  /** Whether this run has training steps to pause before (default: while running). */
  canPause?: boolean;
  canRun?: boolean;
  canReset: boolean;
  /** What the status says while paused and held, e.g. "Paused before step 4: Step runs one step, Resume goes on." */
  pausedText: string;
  onRun: () => void;
  pause: () => void;
  resume: () => void;
  step: () => void;
  cancel: () => void;
  reset: () => void;
  children?: ReactNode;
}

/** The status line of a run: null when idle. */
export function runStatus(p: Pick<RunControlsProps, 'running' | 'paused' | 'waiting' | 'stage' | 'pausedText'>): string | null {
  if (!p.running) return null;
  if (!p.paused) return `Running… ${p.stage ?? ''}`;
  return p.waiting ? p.pausedText : 'Pausing: the run stops before its next training step…';
}

export function RunControls(p: RunControlsProps) {
  const status = runStatus(p);
  return (
    <>
      <div className="actions fusion-actions">
        <button type="button" onClick={p.onRun} disabled={p.running || p.canRun === false} data-testid={p.ids.run} title={p.titles.run}>
          {p.runLabel}
        </button>
        <button
          type="button"
          className="secondary"
          onClick={p.paused ? p.resume : p.pause}
          disabled={!p.running || p.canPause === false}
          aria-pressed={p.paused}
          data-testid={p.ids.pause}
          title={p.paused ? 'Resume the run' : p.titles.pause}
        >
          {p.paused ? 'Resume' : 'Pause'}
        </button>
        <button
          type="button"
          className="secondary"
          onClick={p.step}
          disabled={!p.running || !p.paused || !p.waiting}
          data-testid={p.ids.step}
          title="Run one training step, then stay paused"
        >
          Step
        </button>
        <button type="button" className="secondary" onClick={p.cancel} disabled={!p.running} data-testid={p.ids.cancel} title={p.titles.cancel}>
          Cancel
        </button>
        <button type="button" className="secondary" onClick={p.reset} disabled={!p.canReset} data-testid={p.ids.reset} title={p.titles.reset}>
          Reset
        </button>
        {p.children}
      </div>
      {status && (
        <p role="status" data-testid={p.ids.status}>
          {status}
        </p>
      )}
    </>
  );
}
