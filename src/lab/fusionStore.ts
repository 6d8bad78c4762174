// Head fusion in the page: run a method (mean-pool, aligned merge, DHA) on the loaded model, watch DHA's search and training
// live (budget path, losses, fusion operators) and the recovery training's curve, pause / single-step / resume / cancel it,
// then evaluate the fused model on held-out text. Every finished run — here or in the recovery race — becomes a row of the
// results table, with its files for download and a side-by-side continuation of one prompt by the original and the fused
// model. The run itself (texts, conversion, training, evaluation, records) is src/lab/fusionRun.ts.
import { create } from 'zustand';
import type { LoadedModel } from '../model/load';
import type { Model } from '../model/types';
import type { Tokenizer } from '../model/tokenizer';
import { GpuModel } from '../eval/gpuModel';
import { generate } from '../eval/generate';
import type { FusionMethod } from '../fusion/fuse';
import type { DhaEvent } from '../fusion/dha';
import { exportFusedModel, type ExportFile } from '../fusion/export';
import type { CurvePoint as TrainPoint, TrainEvent } from '../train/trainer';
import { LoadCancelledError } from '../model/errors';
import { gpuModelOf } from './evalStore';
import { useGpu } from './gpuStore';
import { StepGate } from './gate';
import { fuseAndEvaluate, resultRow, type Continuation, type FusionOutcome, type FusionSettings, type FusionTexts, type HeadCounts, type ResultRow } from './fusionRun';

export { budgetLabel, compactCounts, prepareTexts } from './fusionRun';
export type { FusionSettings, FusionTexts, HeadCounts, NamedText, ResultRow, RecoverySettings } from './fusionRun';

/** A step of DHA's layer-local training of the fused model. */
export interface CurvePoint {
  step: number;
  /** Mean over layers of the relative squared error of the attention output. */
  loss: number;
  tokens: number;
}

export interface LiveView {
  runId: number;
  method: FusionMethod;
  budget: number;
  model: string;
  /** Heads per layer of the original model (the bars' full height). */
  heads: HeadCounts;
  /** DHA's budget path, from every head down to the target, one allocation per search event. */
  searchPath: { budget: number; perLayer: HeadCounts }[];
  /** The allocation being trained (DHA), or the result (mean-pool, aligned). */
  perLayer: HeadCounts | null;
  curve: CurvePoint[];
  /** DHA: the fused model's calibration KL at each check, and the step whose state is kept. */
  checks: { step: number; kl: number }[];
  bestStep: number;
  phase: 'fusion' | 'train' | null;
  step: number;
  steps: number;
  tokens: number;
  /** End-to-end recovery training: planned steps (0: none) and its curve so far. */
  trainSteps: number;
  trainCurve: TrainPoint[];
}

interface RowData {
  source: LoadedModel;
  fused: Model;
  tokenizer: Tokenizer | null;
  tokenizerFiles: ExportFile[];
  experiment: Record<string, unknown>;
  files: ExportFile[] | null;
}

interface FusionState {
  running: boolean;
  /** Pause requested: the run stops before its next training step. */
  paused: boolean;
  /** The run is waiting at the pause gate. */
  waiting: boolean;
  stage: string | null;
  live: LiveView | null;
  rows: ResultRow[];
  error: string | null;
  comparing: boolean;
  run: (loaded: LoadedModel, settings: FusionSettings, texts: FusionTexts) => Promise<void>;
  /** A finished run's row (and its files): the recovery race adds its runs here too. Returns the row's id. */
  addResult: (loaded: LoadedModel, settings: FusionSettings, outcome: FusionOutcome) => number;
  pause: () => void;
  resume: () => void;
  step: () => void;
  cancel: () => void;
  reset: () => void;
  compare: (rowId: number, prompt: string, maxTokens: number) => Promise<void>;
  stopCompare: () => void;
}

const rowData = new Map<number, RowData>();
let controller: AbortController | null = null;
let compareController: AbortController | null = null;
let currentRun = 0;
let nextRowId = 1;

/** The pause gate: the core awaits it before every training step. */
const gate = new StepGate((waiting) => {
  if (useFusion.getState().running) useFusion.setState({ waiting });
});

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const useFusion = create<FusionState>((set, get) => {
  const patchLive = (runId: number, f: (l: LiveView) => Partial<LiveView>) =>
    set((s) => (s.live && s.live.runId === runId ? { live: { ...s.live, ...f(s.live) } } : {}));
  const patchRow = (id: number, f: (r: ResultRow) => Partial<ResultRow>) => set((s) => ({ rows: s.rows.map((r) => (r.id === id ? { ...r, ...f(r) } : r)) }));

  return {
    running: false,
    paused: false,
    waiting: false,
    stage: null,
    live: null,
    rows: [],
    error: null,
    comparing: false,

    run: async (loaded, settings, texts) => {
      if (get().running || get().comparing) return;
      const runId = ++currentRun;
      const mine = (controller = new AbortController());
      gate.reset();
      const model = loaded.model;
      const heads = model.layers.map((l) => ({ k: l.kv.kHeads, v: l.kv.vHeads }));
      const steps = settings.method === 'dha' ? settings.steps : 0;
      set({
        running: true,
        paused: false,
        waiting: false,
        error: null,
        stage: 'preparing the texts',
        live: {
          runId, method: settings.method, budget: settings.budget, model: loaded.name, heads, searchPath: [], perLayer: null, curve: [], checks: [], bestStep: 0,
          phase: null, step: 0, steps, tokens: 0, trainSteps: settings.train?.steps ?? 0, trainCurve: [],
        },
      });
      const mineNow = () => runId === currentRun;
      const onDhaEvent = (e: DhaEvent) => {
        if (!mineNow()) return;
        if (e.phase === 'search') {
          patchLive(runId, (l) => ({ searchPath: [...l.searchPath, { budget: e.budget, perLayer: e.perLayer }], perLayer: e.perLayer }));
          return;
        }
        if (e.phase === 'check') {
          patchLive(runId, (l) => ({ checks: [...l.checks, { step: e.step, kl: e.kl }], bestStep: e.bestStep }));
          return;
        }
        patchLive(runId, (l) => ({
          phase: 'fusion',
          step: e.step,
          tokens: e.tokens,
          perLayer: e.perLayer,
          curve: [...l.curve, { step: e.step, loss: e.loss, tokens: e.tokens }],
        }));
      };
      const onTrainEvent = (e: TrainEvent) => {
        if (mineNow()) patchLive(runId, (l) => ({ phase: 'train', step: e.step, tokens: e.tokens, trainCurve: [...l.trainCurve, { step: e.step, tokens: e.tokens, loss: e.loss, ppl: e.ppl }] }));
      };
      try {
        const rt = useGpu.getState().runtime;
        if (!rt) throw new Error('No GPU device: WebGPU is not available on this page (see the GPU panel), so nothing can be fused.');
        const outcome = await fuseAndEvaluate(rt, loaded, settings, texts, {
          signal: mine.signal,
          gate: () => gate.wait(mine.signal),
          onStage: (stage) => mineNow() && set({ stage }),
          onDhaEvent,
          onTrainEvent,
        });
        if (!mineNow()) return;
        patchLive(runId, () => ({ perLayer: outcome.result.perLayer }));
        get().addResult(loaded, settings, outcome);
        set({ running: false, paused: false, waiting: false, stage: null });
      } catch (e) {
        if (!mineNow()) return;
        set({ running: false, paused: false, waiting: false, stage: null, error: e instanceof LoadCancelledError ? 'Cancelled.' : message(e) });
      } finally {
        if (controller === mine) controller = null;
      }
    },

    addResult: (loaded, settings, outcome) => {
      const id = nextRowId++;
      rowData.set(id, { source: loaded, fused: outcome.result.model, tokenizer: loaded.tokenizer, tokenizerFiles: outcome.tokenizerFiles, experiment: outcome.experiment, files: null });
      set((s) => ({ rows: [...s.rows, resultRow(id, loaded, settings, outcome)] }));
      return id;
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
      compareController?.abort();
      rowData.clear();
      set({ running: false, paused: false, waiting: false, stage: null, live: null, rows: [], error: null });
    },

    compare: async (rowId, prompt, maxTokens) => {
      const data = rowData.get(rowId);
      if (!data || get().comparing || get().running) return;
      const mine = (compareController = new AbortController());
      const empty = (): Continuation => ({ text: '', tokens: 0, kvCacheBytes: 0, done: false, error: null });
      set({ comparing: true });
      patchRow(rowId, () => ({ comparison: { prompt, maxTokens, running: true, original: empty(), fused: empty() } }));
      const update = (which: 'original' | 'fused', c: Partial<Continuation>) =>
        patchRow(rowId, (r) => (r.comparison ? { comparison: { ...r.comparison, [which]: { ...r.comparison[which], ...c } } } : {}));
      for (const which of ['original', 'fused'] as const) {
        let gm: GpuModel | null = null;
        try {
          const rt = useGpu.getState().runtime;
          if (!rt) throw new Error('No GPU device.');
          if (!data.tokenizer) throw new Error('This model has no tokenizer.');
          gm = which === 'original' ? await gpuModelOf(data.source) : await GpuModel.upload(rt, data.fused);
          let text = '';
          for await (const t of generate(gm, data.tokenizer, prompt, { maxTokens, temperature: 0, topK: 0, seed: 1, signal: mine.signal })) {
            text += t.text;
            update(which, { text, tokens: t.cachedTokens, kvCacheBytes: t.kvCacheBytes });
          }
          update(which, { done: true });
        } catch (e) {
          update(which, { done: true, error: e instanceof LoadCancelledError ? 'Stopped.' : message(e) });
        } finally {
          if (which === 'fused') gm?.release();
        }
      }
      patchRow(rowId, (r) => (r.comparison ? { comparison: { ...r.comparison, running: false } } : {}));
      set({ comparing: false });
    },

    stopCompare: () => compareController?.abort(),
  };
});

/** A row's file, built on first use (the fused model's config, safetensors, llama2.c .bin, tokenizer, experiment). */
export function rowFile(rowId: number, name: string): ExportFile | null {
  const d = rowData.get(rowId);
  if (!d) return null;
  d.files ??= exportFusedModel(d.fused, { tokenizerFiles: d.tokenizerFiles, experiment: d.experiment });
  return d.files.find((f) => f.name === name) ?? null;
}
