// The recovery race: one KV budget, several conversion methods, then the same end-to-end training for each (same seed, so
// the same training batches), with held-out perplexity measured as they train — the DHA paper's comparison (how fast a
// converted model recovers) on the loaded model. Methods run one after another; each finished one also becomes a row of the
// fusion results table. Pause, single step and cancel act on the method being trained.
import { create } from 'zustand';
import type { LoadedModel } from '../model/load';
import type { FusionMethod } from '../fusion/fuse';
import type { CurvePoint as TrainPoint } from '../train/trainer';
import { LoadCancelledError } from '../model/errors';
import { useGpu } from './gpuStore';
import { StepGate } from './gate';
import { fuseAndEvaluate, type FusionSettings, type FusionTexts } from './fusionRun';
import { useFusion } from './fusionStore';

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
  start: (loaded: LoadedModel, settings: FusionSettings, methods: FusionMethod[], texts: FusionTexts) => Promise<void>;
  pause: () => void;
  resume: () => void;
  step: () => void;
  cancel: () => void;
  reset: () => void;
}

let controller: AbortController | null = null;
let currentRun = 0;
const gate = new StepGate((waiting) => {
  if (useRace.getState().running) useRace.setState({ waiting });
});

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
      const mine = (controller = new AbortController());
      gate.reset();
      const kvOriginal = loaded.model.layers.reduce((s, l) => s + (l.kv.kHeads + l.kv.vHeads) * loaded.model.config.headDim * 4, 0);
      const lane = (method: FusionMethod): RaceLane => ({ method, status: 'waiting', curve: [], pplConverted: null, pplAfter: null, kvBytesPerToken: null, perLayer: null, seconds: null, rowId: null, error: null });
      set({
        running: true, paused: false, waiting: false, error: null, stage: 'preparing the texts',
        race: { runId, model: loaded.name, budget: settings.budget, settings, pplOriginal: null, kvOriginal, evalText: null, lanes: methods.map(lane), current: 0 },
      });
      const mineNow = () => runId === currentRun;
      const rt = useGpu.getState().runtime;
      for (const [i, method] of methods.entries()) {
        if (!mineNow() || mine.signal.aborted) break;
        set((s) => (s.race?.runId === runId ? { race: { ...s.race, current: i } } : {}));
        patchLane(runId, i, () => ({ status: 'converting' }));
        try {
          if (!rt) throw new Error('No GPU device: WebGPU is not available on this page (see the GPU panel), so nothing can be trained.');
          const outcome = await fuseAndEvaluate(rt, loaded, { ...settings, method }, texts, {
            signal: mine.signal,
            gate: () => gate.wait(mine.signal),
            onStage: (stage) => mineNow() && set({ stage: `${methods.length > 1 ? `${i + 1}/${methods.length} ` : ''}${stage}` }),
            onBefore: (before, evalText) => set((s) => (s.race?.runId === runId ? { race: { ...s.race, pplOriginal: before.ppl, evalText } } : {})),
            onTrainEvent: (e) => {
              if (!mineNow()) return;
              patchLane(runId, i, (l) => ({ status: 'training', curve: [...l.curve, { step: e.step, tokens: e.tokens, loss: e.loss, ppl: e.ppl }], pplConverted: e.step === 0 ? e.ppl : l.pplConverted }));
            },
          });
          if (!mineNow()) return;
          const r = outcome.result;
          const rowId = useFusion.getState().addResult(loaded, { ...settings, method }, outcome);
          patchLane(runId, i, () => ({ status: 'done', pplAfter: outcome.after.ppl, kvBytesPerToken: r.kvBytesPerToken, perLayer: r.perLayer, seconds: r.seconds, rowId, curve: r.curve }));
        } catch (e) {
          if (!mineNow()) return;
          const cancelled = e instanceof LoadCancelledError;
          patchLane(runId, i, () => ({ status: 'failed', error: cancelled ? 'Cancelled.' : e instanceof Error ? e.message : String(e) }));
          if (cancelled) break;
        }
      }
      if (!mineNow()) return;
      if (controller === mine) controller = null;
      set({ running: false, paused: false, waiting: false, stage: null, error: mine.signal.aborted ? 'Cancelled.' : null });
    },

    pause: () => {
      if (!get().running) return;
      gate.pause();
      set({ paused: true });
    },
    resume: () => {
      gate.resume();
      set({ paused: false });
    },
    step: () => gate.step(),
    cancel: () => {
      controller?.abort();
      gate.wake();
    },
    reset: () => {
      currentRun++;
      controller?.abort();
      controller = null;
      gate.reset();
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
