// The recovery race: one KV budget, several conversion methods, then the same end-to-end training for each (same seed, so
// the same training batches), with held-out perplexity measured as they train — the DHA paper's comparison (how fast a
// converted model recovers) on the loaded model. Methods run one after another; each finished one also becomes a row of the
// fusion results table. Pause, single step and cancel act on the method being trained.
import { create } from 'zustand';
import type { FusionMethod } from '../fusion/fuse';
import type { CurvePoint as TrainPoint } from '../train/trainer';
import { compute, ComputeError } from './compute/client';
import type { ModelHandle } from './compute/protocol';
import type { FusionSettings } from './fusionRun';
import { useFusion, type RunTexts } from './fusionStore';

export type LaneStatus = 'waiting' | 'converting' | 'training' | 'done' | 'failed';

export interface RaceLane {
  method: FusionMethod;
  status: LaneStatus;
  /** Held-out perplexity (where measured) against training tokens; tokens count from the conversion's own (DHA's stages). */
  curve: TrainPoint[];
  pplConverted: number | null;
  pplAfter: number | null;
  kvBytesPerToken: number | null;
  perLayer: { k: number; v: number }[] | null;
  seconds: number | null;
  /** Its row in the fusion results table. */
  rowId: number | null;
  error: string | null;
}

export interface Race {
  runId: number;
  model: string;
  budget: number;
  settings: FusionSettings;
  /** The original model's held-out perplexity (the reference line). */
  pplOriginal: number | null;
  kvOriginal: number;
  evalText: string | null;
  lanes: RaceLane[];
  /** Index of the lane running now. */
  current: number;
}

interface RaceState {
  running: boolean;
  paused: boolean;
  waiting: boolean;
  stage: string | null;
  race: Race | null;
  error: string | null;
  start: (loaded: ModelHandle, settings: FusionSettings, methods: FusionMethod[], texts: RunTexts) => Promise<void>;
  pause: () => void;
  resume: () => void;
  step: () => void;
  cancel: () => void;
  reset: () => void;
}

let job: number | null = null;
let cancelled = false;
let currentRun = 0;

export const useRace = create<RaceState>((set, get) => {
  const patchLane = (runId: number, i: number, f: (l: RaceLane) => Partial<RaceLane>) =>
    set((s) => (s.race?.runId === runId ? { race: { ...s.race, lanes: s.race.lanes.map((l, j) => (j === i ? { ...l, ...f(l) } : l)) } } : {}));
  return {
    running: false,
    paused: false,
    waiting: false,
    stage: null,
    race: null,
    error: null,

    start: async (loaded, settings, methods, texts) => {
      if (get().running) return;
      if (!methods.length) {
        set({ error: 'Choose at least one method for the race.' });
        return;
      }
      if (!settings.train || settings.train.steps < 1) {
        set({ error: 'The race trains each converted model: give at least one training step.' });
        return;
      }
      const runId = ++currentRun;
      cancelled = false;
      const kvOriginal = loaded.card.kvBytesPerToken;
      const lane = (method: FusionMethod): RaceLane => ({ method, status: 'waiting', curve: [], pplConverted: null, pplAfter: null, kvBytesPerToken: null, perLayer: null, seconds: null, rowId: null, error: null });
      set({
        running: true, paused: false, waiting: false, error: null, stage: 'preparing the texts',
        race: { runId, model: loaded.name, budget: settings.budget, settings, pplOriginal: null, kvOriginal, evalText: null, lanes: methods.map(lane), current: 0 },
      });
      const mineNow = () => runId === currentRun;
      for (const [i, method] of methods.entries()) {
        if (!mineNow() || cancelled) break;
        set((s) => (s.race?.runId === runId ? { race: { ...s.race, current: i } } : {}));
        patchLane(runId, i, () => ({ status: 'converting' }));
        const running = compute.run('fuse', { modelId: loaded.id, settings: { ...settings, method }, texts }, (e) => {
          if (!mineNow()) return;
          if (e.stage) set({ stage: `${methods.length > 1 ? `${i + 1}/${methods.length} ` : ''}${e.stage}` });
          if (e.waiting !== undefined) set({ waiting: e.waiting });
          if (e.before) {
            const before = e.before;
            set((s) => (s.race?.runId === runId ? { race: { ...s.race, pplOriginal: before.ppl, evalText: before.evalName } } : {}));
          }
          if (e.train) {
            const t = e.train;
            patchLane(runId, i, (l) => ({ status: 'training', curve: [...l.curve, { step: t.step, tokens: t.tokens, loss: t.loss, ppl: t.ppl }], pplConverted: t.step === 0 ? t.ppl : l.pplConverted }));
          }
        });
        job = running.id;
        if (get().paused) compute.control(running.id, 'pause');
        try {
          const row = await running.result;
          if (!mineNow()) return;
          useFusion.getState().addResult(row);
          patchLane(runId, i, () => ({ status: 'done', pplAfter: row.pplAfter, kvBytesPerToken: row.kvAfter, perLayer: row.perLayer, seconds: row.seconds, rowId: row.id, curve: row.curve }));
        } catch (e) {
          if (!mineNow()) return;
          const stop = e instanceof ComputeError && e.name === 'LoadCancelledError';
          patchLane(runId, i, () => ({ status: 'failed', error: stop ? 'Cancelled.' : e instanceof Error ? e.message : String(e) }));
          if (stop) break;
        } finally {
          if (job === running.id) job = null;
        }
      }
      if (!mineNow()) return;
      set({ running: false, paused: false, waiting: false, stage: null, error: cancelled ? 'Cancelled.' : null });
    },

    pause: () => {
      if (!get().running) return;
      if (job !== null) compute.control(job, 'pause');
      set({ paused: true });
    },
    resume: () => {
      if (job !== null) compute.control(job, 'resume');
      set({ paused: false });
    },
    step: () => {
      if (job !== null) compute.control(job, 'step');
    },
    cancel: () => {
      cancelled = true;
      if (job !== null) compute.control(job, 'cancel');
    },
    reset: () => {
      currentRun++;
      cancelled = true;
      if (job !== null) compute.control(job, 'cancel');
      job = null;
      set({ running: false, paused: false, waiting: false, stage: null, race: null, error: null });
    },
  };
});

/** The race's curves as CSV: one line per measured point. */
export function raceCsv(race: Race): string {
  const lines = ['method,step,training_tokens,loss,heldout_ppl'];
  for (const l of race.lanes) for (const p of l.curve) lines.push([l.method, p.step, p.tokens, p.loss ?? '', p.ppl ?? ''].join(','));
  if (race.pplOriginal !== null) lines.push(['original', 0, 0, '', race.pplOriginal].join(','));
  return `${lines.join('\n')}\n`;
}
