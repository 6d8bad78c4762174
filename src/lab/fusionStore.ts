// Head fusion in the page: run a method (mean-pool, aligned merge, DHA, latent KV) on the loaded model, watch DHA's search and training
// live (budget path, layer-local losses, KL checks) and the recovery training's curve, pause / single-step / resume / cancel it,
// then evaluate the fused model on held-out text. Every finished run — here or in the recovery race — becomes a row of the
// results table, with its files for download and a side-by-side continuation of one prompt by the original and the fused
// model. The run itself (texts, conversion, training, evaluation, records) is src/lab/fusionRun.ts.
import { isCancelled } from '../progress';
import { create } from 'zustand';
import type { FusionMethod } from '../fusion/fuse';
import type { DhaEvent } from '../fusion/ownSteps';
import type { FusionStepEvent, OperatorSnapshot } from '../fusion/progressive';
import type { TrainPoint, TrainEvent } from '../train/trainer';
import { compute } from './compute/client';
import { jobControl } from './jobControl';
import { useModel } from './modelStore';
import type { Jobs, ModelHandle } from './compute/protocol';
import type { Continuation, RunConfig, HeadCounts, LatentSizes, ResultRow } from './fusionRun';
import { upgradeRow } from './fusionRun';
import type { KvLayout } from '../model/types';
import { originOf } from '../model/heads';

const layoutsWithOrigin = (ls: KvLayout[]) => ls.map((l) => ({ ...l, origin: originOf(l) }));

export { budgetLabel, compactCounts, compactShape, shapeLines } from './fusionRun';
export type { RunConfig, HeadCounts, NamedText, ResultRow, RecoverySettings } from './fusionRun';

/** The texts of a run as the page gives them: text, or a file the compute core reads. */
export type RunTexts = Jobs['fuse']['args']['texts'];

/** A step of DHA's layer-local training of the fused model. */
export interface FusionStepPoint {
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
  /** DHA's budget path, from every head down to the target, one allocation (and its head layouts) per search event. */
  searchPath: { budget: number; perLayer: HeadCounts; layouts: Required<KvLayout>[] }[];
  /** The allocation being trained (DHA), or the result (mean-pool, aligned, latent KV). */
  perLayer: HeadCounts | null;
  /** Latent KV (MLA): the result's latent width and kept rotary pairs per layer, once known. */
  latent: LatentSizes | null;
  curve: FusionStepPoint[];
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
  /** Progressive fusion: the operators after the latest step, and per step the Lagrangian's ρ, the rows' disagreement and per layer c and λ. */
  operators: OperatorSnapshot[] | null;
  lagrangian: Omit<FusionStepEvent, 'phase' | 'layers'>[];
  /** Per step and layer: Σ c_g and the largest λ_g, for K and V. */
  lagrangianLayers: { k: [number, number]; v: [number, number] }[][];
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
  /** The results row whose head layout is drawn. */
  selected: number | null;
  error: string | null;
  comparing: boolean;
  select: (rowId: number | null) => void;
  run: (loaded: ModelHandle, config: RunConfig, texts: RunTexts) => Promise<void>;
  /** A finished run's row (its id is the compute core's result id): the recovery race adds its runs here too. */
  addResult: (row: ResultRow) => void;
  /** Rows saved before a reload (negative ids), with their files. */
  restoreRows: (saved: { row: ResultRow; files: Record<string, Uint8Array> }[]) => void;
  pause: () => void;
  resume: () => void;
  step: () => void;
  cancel: () => void;
  reset: () => void;
  compare: (rowId: number, prompt: string, maxTokens: number) => Promise<void>;
  stopCompare: () => void;
}

let compareJob: number | null = null;
/** Restored rows: their files (the compute core does not hold them after a reload), and the model loaded from them. */
const restoredFiles = new Map<number, Record<string, Uint8Array>>();
const restoredModels = new Map<number, Promise<number>>();
let nextRestoredId = -1;
const resultListeners = new Set<(row: ResultRow) => void>();

/** Called with every row added by a run (persistence saves them). */
export function onResult(listener: (row: ResultRow) => void): () => void {
  resultListeners.add(listener);
  return () => resultListeners.delete(listener);
}

/** Where the compute core finds a row's fused model: its result, or (restored after a reload) its saved files loaded back. */
export async function rowSource(row: ResultRow): Promise<{ resultId: number } | { modelId: number }> {
  return row.restored ? { modelId: await restoredModel(row.id) } : { resultId: row.id };
}

/** The core's model id for a restored row: its saved files loaded as a model, once. */
function restoredModel(rowId: number): Promise<number> {
  let p = restoredModels.get(rowId);
  if (!p) {
    const files = Object.entries(restoredFiles.get(rowId) ?? {}).filter(([name]) => name !== 'experiment.json' && name !== 'model.bin');
    p = compute
      .run('load', { source: { kind: 'files', files: files.map(([n, d]) => [n, new Blob([d as Uint8Array<ArrayBuffer>])]), label: `restored run ${-rowId}` } })
      .result.then((h) => h.id);
    p.catch(() => restoredModels.delete(rowId));
    restoredModels.set(rowId, p);
  }
  return p;
}
let currentRun = 0;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const useFusion = create<FusionState>((set, get) => {
  const control = jobControl(get, (paused) => set({ paused }));
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
    selected: null,
    error: null,
    comparing: false,

    select: (selected) => set({ selected }),

    run: async (loaded, config, texts) => {
      if (get().running || get().comparing) return;
      const runId = ++currentRun;
      const heads = loaded.card.kvHeads.map((h) => ({ k: h.k, v: h.v }));
      const steps = config.recipe.family === 'heads' ? config.recipe.ownSteps : 0;
      set({
        running: true,
        paused: false,
        waiting: false,
        error: null,
        stage: 'preparing the texts',
        live: {
          runId,
          method: config.recipe.preset,
          budget: config.budget,
          model: loaded.name,
          heads,
          searchPath: [],
          perLayer: null,
          latent: null,
          curve: [],
          checks: [],
          bestStep: 0,
          phase: null,
          step: 0,
          steps,
          tokens: 0,
          trainSteps: config.train?.steps ?? 0,
          trainCurve: [],
          operators: null,
          lagrangian: [],
          lagrangianLayers: [],
        },
      });
      const mineNow = () => runId === currentRun;
      const onDhaEvent = (e: DhaEvent) => {
        if (e.phase === 'search') {
          patchLive(runId, (l) => ({
            searchPath: [...l.searchPath, { budget: e.budget, perLayer: e.perLayer, layouts: layoutsWithOrigin(e.layouts) }],
            perLayer: e.perLayer,
          }));
        } else if (e.phase === 'check') {
          patchLive(runId, (l) => ({ checks: [...l.checks, { step: e.step, kl: e.kl }], bestStep: e.bestStep }));
        } else if (e.phase === 'operators') {
          const { layers, phase: _p, ...point } = e;
          patchLive(runId, (l) => ({
            phase: 'fusion',
            step: e.step,
            tokens: e.tokens,
            operators: layers,
            lagrangian: [...l.lagrangian, point],
            lagrangianLayers: [...l.lagrangianLayers, layers.map((x) => ({ k: [x.k.constraint, x.k.lambda], v: [x.v.constraint, x.v.lambda] }))],
          }));
        } else {
          patchLive(runId, (l) => ({
            phase: 'fusion',
            step: e.step,
            tokens: e.tokens,
            perLayer: e.perLayer,
            curve: [...l.curve, { step: e.step, loss: e.loss, tokens: e.tokens }],
          }));
        }
      };
      const onTrainEvent = (e: TrainEvent) =>
        patchLive(runId, (l) => ({
          phase: 'train',
          step: e.step,
          tokens: e.tokens,
          trainCurve: [...l.trainCurve, { step: e.step, tokens: e.tokens, loss: e.loss, ppl: e.ppl }],
        }));
      const running = compute.run('fuse', { modelId: loaded.id, config, texts }, (e) => {
        if (!mineNow()) return;
        if (e.stage) set({ stage: e.stage });
        if (e.waiting !== undefined) set({ waiting: e.waiting });
        if (e.dha) onDhaEvent(e.dha);
        if (e.train) onTrainEvent(e.train);
      });
      control.attach(running.id);
      try {
        const row = await running.result;
        if (!mineNow()) return;
        patchLive(runId, () => ({ perLayer: row.perLayer, latent: row.latent ?? null }));
        get().addResult(row);
        set({ running: false, paused: false, waiting: false, stage: null });
      } catch (e) {
        if (!mineNow()) return;
        set({ running: false, paused: false, waiting: false, stage: null, error: isCancelled(e) ? 'Cancelled.' : message(e) });
      } finally {
        control.detach(running.id);
      }
    },

    addResult: (row) => {
      set((s) => ({ rows: [...s.rows, row], selected: row.id }));
      for (const l of resultListeners) l(row);
    },

    restoreRows: (saved) => {
      const rows = saved.map(({ row, files }) => {
        const id = nextRestoredId--;
        restoredFiles.set(id, files);
        return { ...upgradeRow(row), id, restored: true, comparison: null };
      });
      set((s) => ({ rows: [...s.rows, ...rows] }));
    },

    pause: control.pause,
    resume: control.resume,
    step: control.step,
    cancel: control.cancel,

    reset: () => {
      currentRun++;
      control.drop();
      if (compareJob !== null) compute.control(compareJob, 'cancel');
      for (const r of get().rows) if (!r.restored) compute.run('release', { resultId: r.id });
      set({ running: false, paused: false, waiting: false, stage: null, live: null, rows: [], selected: null, error: null });
    },

    compare: async (rowId, prompt, maxTokens) => {
      const row = get().rows.find((r) => r.id === rowId);
      if (!row || get().comparing || get().running) return;
      const empty = (): Continuation => ({ text: '', tokens: 0, kvCacheBytes: 0, done: false, error: null });
      set({ comparing: true });
      patchRow(rowId, () => ({ comparison: { prompt, maxTokens, running: true, original: empty(), fused: empty() } }));
      const update = (which: 'original' | 'fused', c: Partial<Continuation>) =>
        patchRow(rowId, (r) => (r.comparison ? { comparison: { ...r.comparison, [which]: { ...r.comparison[which], ...c } } } : {}));
      for (const which of ['original', 'fused'] as const) {
        const original = row.restored ? (useModel.getState().loaded?.id ?? row.sourceModelId) : row.sourceModelId;
        const source = which === 'original' ? { modelId: original } : await rowSource(row);
        const gen = compute.run('generate', { source, prompt, opts: { maxTokens, temperature: 0, topK: 0, seed: 1 } }, (e) =>
          update(which, { text: e.text, tokens: e.cachedTokens, kvCacheBytes: e.kvCacheBytes }),
        );
        compareJob = gen.id;
        try {
          await gen.result;
          update(which, { done: true });
        } catch (e) {
          update(which, { done: true, error: isCancelled(e) ? 'Stopped.' : message(e) });
        }
      }
      compareJob = null;
      patchRow(rowId, (r) => (r.comparison ? { comparison: { ...r.comparison, running: false } } : {}));
      set({ comparing: false });
    },

    stopCompare: () => {
      if (compareJob !== null) compute.control(compareJob, 'cancel');
    },
  };
});

/** A row's file (the fused model's config, safetensors, llama2.c .bin, tokenizer, experiment): from the compute core, or the saved copy. */
export async function rowFile(rowId: number, name: string): Promise<Uint8Array> {
  const saved = restoredFiles.get(rowId);
  if (saved) {
    if (!saved[name]) throw new Error(`${name} was not saved with this run`);
    return saved[name];
  }
  return new Uint8Array(await compute.run('file', { resultId: rowId, name }).result);
}
