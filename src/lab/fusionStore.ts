// Head fusion in the page: run a method (mean-pool, aligned merge, DHA) on the loaded model, watch DHA's search and training
// live (budget path, losses, fusion operators), pause / single-step / resume / cancel it, then evaluate the fused model on
// held-out text. Every finished run becomes a row of the results table, with its files for download and a side-by-side
// continuation of one prompt by the original and the fused model.
import { create } from 'zustand';
import type { LoadedModel } from '../model/load';
import type { Model } from '../model/types';
import type { Tokenizer } from '../model/tokenizer';
import { GpuModel } from '../eval/gpuModel';
import { perplexity, splitDocuments, tokenizeDocuments, type PerplexityResult } from '../eval/perplexity';
import { generate } from '../eval/generate';
import { calibrationTokens } from '../analysis/calibration';
import { fuse, type FusionMethod } from '../fusion/fuse';
import { DHA_DEFAULTS, type DhaEvent } from '../fusion/dha';
import { exportFusedModel, fitsLlama2c, modelHash, type ExportFile } from '../fusion/export';
import { kvBytesPerToken } from '../model/heads';
import { LoadCancelledError, throwIfAborted } from '../model/errors';
import type { Progress } from '../progress';
import { gpuModelOf } from './evalStore';
import { useGpu } from './gpuStore';
import { tokenizerFilesOf } from './modelStore';

export type HeadCounts = { k: number; v: number }[];

export interface FusionSettings {
  method: FusionMethod;
  /** Share of K heads and of V heads kept, in (0, 1]. */
  budget: number;
  /** Calibration: the first N tokens of the calibration text. */
  calibrationTokens: number;
  /** DHA: fusion steps, recovery steps, seed, tokens per step, sequence length. */
  steps: number;
  recoverySteps: number;
  seed: number;
  tokensPerStep: number;
  seqLen: number;
}

/** A text for the run: its content and how it is named in the results. */
export interface NamedText {
  text: string;
  name: string;
}

/**
 * Where the calibration and evaluation tokens come from. `heldOut`: evaluate on the last `heldOutDocs` documents of the
 * evaluation text and, when calibration reads the same text, calibrate only on the documents before them.
 */
export interface FusionTexts {
  calibration: NamedText;
  evaluation: NamedText & { heldOutDocs: number };
  /** The two texts are the same (the built-in sample): calibration then leaves out the evaluation documents. */
  sameText: boolean;
}

export interface CurvePoint {
  phase: 'fusion' | 'recovery';
  /** Step within its phase, and on the common axis (recovery steps follow the fusion steps). */
  step: number;
  x: number;
  loss: number;
  fusionK: number;
  fusionV: number;
  constraint: number;
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
  /** Latest fusion operators per layer, n×n row-major as rows (fusion phase). */
  operators: { k: number[][]; v: number[][] }[] | null;
  /** Latest similarity of the fused heads' outputs per layer (fusion phase): groups reach 1 as they fuse. */
  similarity: { k: number[][]; v: number[][] }[] | null;
  phase: 'fusion' | 'recovery' | null;
  step: number;
  steps: number;
  recoverySteps: number;
  tokens: number;
}

export interface Continuation {
  text: string;
  tokens: number;
  kvCacheBytes: number;
  done: boolean;
  error: string | null;
}

export interface Comparison {
  prompt: string;
  maxTokens: number;
  running: boolean;
  original: Continuation;
  fused: Continuation;
}

export interface ResultRow {
  id: number;
  model: string;
  method: FusionMethod;
  budget: number;
  perLayer: HeadCounts;
  pplBefore: number;
  pplAfter: number;
  evalTokens: number;
  evalDocuments: number;
  evalText: string;
  kvBefore: number;
  kvAfter: number;
  /** Seconds the conversion took, without time spent paused (evaluation not included). */
  seconds: number;
  trainSteps: number;
  trainTokens: number;
  calibrationTokens: number;
  seed: number;
  /** File names offered for download, in order. */
  fileNames: string[];
  comparison: Comparison | null;
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
  pause: () => void;
  resume: () => void;
  step: () => void;
  cancel: () => void;
  reset: () => void;
  compare: (rowId: number, prompt: string, maxTokens: number) => Promise<void>;
  stopCompare: () => void;
}

const rowData = new Map<number, RowData>();
const pplCache = new WeakMap<LoadedModel, Map<string, PerplexityResult>>();
let controller: AbortController | null = null;
let compareController: AbortController | null = null;
let currentRun = 0;
let nextRowId = 1;

/** The pause gate: DHA awaits it before every training step. */
const gate = { paused: false, allow: 0, waiters: [] as (() => void)[], blockedMs: 0 };
function wake() {
  const w = gate.waiters.splice(0);
  w.forEach((r) => r());
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Names a budget: 0.5 → "50 %", 0.375 → "37.5 %". */
export function budgetLabel(budget: number): string {
  return `${Number((budget * 100).toFixed(2))} %`;
}

/** Heads per layer as "K/V K/V …". */
export function compactCounts(perLayer: HeadCounts): string {
  return perLayer.map((p) => `${p.k}/${p.v}`).join(' ');
}

/**
 * Calibration tokens and evaluation documents for a run: evaluation is the last `heldOutDocs` documents of its text
 * (split on <|endoftext|>); calibration is the first N tokens of its text, without those documents when it is the same
 * text, so that nothing evaluated was seen in calibration.
 */
export function prepareTexts(tokenizer: Tokenizer, context: number, texts: FusionTexts, maxCalibration: number) {
  const evalDocs = splitDocuments(texts.evaluation.text, { split: 'endoftext' });
  const held = Math.max(1, Math.min(texts.evaluation.heldOutDocs, evalDocs.length));
  const evaluation = evalDocs.slice(evalDocs.length - held);
  let calText = texts.calibration.text;
  let calNote = texts.calibration.name;
  if (texts.sameText) {
    const rest = evalDocs.slice(0, evalDocs.length - held);
    calText = rest.join('\n<|endoftext|>\n');
    calNote = `${texts.calibration.name}, documents 1–${rest.length}`;
  }
  const calibration = calibrationTokens(tokenizer, calText, maxCalibration);
  const docs = tokenizeDocuments(evaluation, tokenizer, context);
  const evalName = `the last ${held} documents of ${texts.evaluation.name} (documents ${evalDocs.length - held + 1}–${evalDocs.length})`;
  return { calibration, calibrationName: calNote, docs, evalName };
}

function operatorRows(w: Float32Array): number[][] {
  const n = Math.round(Math.sqrt(w.length));
  return Array.from({ length: n }, (_, r) => Array.from(w.subarray(r * n, (r + 1) * n)));
}

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
      Object.assign(gate, { paused: false, allow: 0, blockedMs: 0 });
      wake();
      const model = loaded.model;
      const heads = model.layers.map((l) => ({ k: l.kv.kHeads, v: l.kv.vHeads }));
      const steps = settings.method === 'dha' ? settings.steps : 0;
      const recoverySteps = settings.method === 'dha' ? settings.recoverySteps : 0;
      set({
        running: true,
        paused: false,
        waiting: false,
        error: null,
        stage: 'preparing the texts',
        live: {
          runId, method: settings.method, budget: settings.budget, model: loaded.name, heads, searchPath: [], perLayer: null, curve: [], operators: null, similarity: null,
          phase: null, step: 0, steps, recoverySteps, tokens: 0,
        },
      });
      const mineNow = () => runId === currentRun;
      const onProgress = (label: string) => (p: Progress) => {
        if (mineNow()) set({ stage: `${label}${p.stage}: ${p.done} / ${p.total}${p.detail ? ` — ${p.detail}` : ''}` });
      };
      const onDhaEvent = (e: DhaEvent) => {
        if (!mineNow()) return;
        if (e.phase === 'search') {
          patchLive(runId, (l) => ({ searchPath: [...l.searchPath, { budget: e.budget, perLayer: e.perLayer }], perLayer: e.perLayer }));
          return;
        }
        const x = e.phase === 'fusion' ? e.step : steps + e.step;
        patchLive(runId, (l) => ({
          phase: e.phase,
          step: e.step,
          tokens: e.tokens,
          perLayer: e.perLayer,
          operators: e.operators ? e.operators.map((o) => ({ k: operatorRows(o.k), v: operatorRows(o.v) })) : l.operators,
          similarity: e.similarity ?? l.similarity,
          curve: [...l.curve, { phase: e.phase, step: e.step, x, loss: e.loss, fusionK: e.fusionLoss.k, fusionV: e.fusionLoss.v, constraint: e.constraint, tokens: e.tokens }],
        }));
      };
      const gateFn = async () => {
        for (;;) {
          throwIfAborted(mine.signal);
          if (!gate.paused) return;
          if (gate.allow > 0) {
            gate.allow--;
            return;
          }
          const t0 = performance.now();
          if (mineNow()) set({ waiting: true });
          await new Promise<void>((resolve) => gate.waiters.push(resolve));
          gate.blockedMs += performance.now() - t0;
          if (mineNow()) set({ waiting: false });
        }
      };
      try {
        const rt = useGpu.getState().runtime;
        if (!rt) throw new Error('No GPU device: WebGPU is not available on this page (see the GPU panel), so nothing can be fused.');
        if (!loaded.tokenizer) throw new Error(`${loaded.name} has no tokenizer, so it cannot read the calibration and evaluation texts.`);
        if (!(settings.budget > 0 && settings.budget <= 1)) throw new RangeError(`The KV budget must be in (0 %, 100 %]; got ${budgetLabel(settings.budget)}.`);
        const prep = prepareTexts(loaded.tokenizer, model.config.contextLength, texts, settings.method === 'meanpool' ? 0 : settings.calibrationTokens);
        if (!prep.docs.length) throw new Error(`No evaluation documents of two tokens or more in ${texts.evaluation.name}.`);
        const hash = modelHash(model);
        set({ stage: settings.method === 'meanpool' ? 'pooling heads' : 'calibration' });
        const r = await fuse(rt, model, {
          method: settings.method,
          budget: settings.budget,
          calibration: [prep.calibration],
          dha: {
            steps: settings.steps,
            recoverySteps: settings.recoverySteps,
            seed: settings.seed,
            tokensPerStep: settings.tokensPerStep,
            seqLen: settings.seqLen,
            gate: gateFn,
          },
          onDhaEvent,
          onProgress: onProgress(''),
          signal: mine.signal,
        });
        const seconds = r.seconds; // the core leaves out time spent paused
        patchLive(runId, () => ({ perLayer: r.perLayer }));
        // Perplexity before (once per model and evaluation text) and after, on the same documents.
        const evalKey = `${texts.evaluation.name}\u0000${texts.evaluation.heldOutDocs}\u0000${texts.evaluation.text.length}`;
        let cache = pplCache.get(loaded);
        if (!cache) pplCache.set(loaded, (cache = new Map()));
        let before = cache.get(evalKey);
        if (!before) {
          const gm = await gpuModelOf(loaded);
          before = await perplexity(gm, prep.docs, { signal: mine.signal, onProgress: onProgress('perplexity before — ') });
          cache.set(evalKey, before);
        }
        const gmF = await GpuModel.upload(rt, r.model);
        let after: PerplexityResult;
        try {
          after = await perplexity(gmF, prep.docs, { signal: mine.signal, onProgress: onProgress('perplexity after — ') });
        } finally {
          gmF.release();
        }
        const tokenizerFiles: ExportFile[] = [];
        for (const [name, blob] of tokenizerFilesOf(loaded)) tokenizerFiles.push({ name, data: new Uint8Array(await blob.arrayBuffer()) });
        const live = get().live;
        const experiment: Record<string, unknown> = {
          producer: 'headlab page',
          source: { name: loaded.name, modelHash: hash },
          seed: settings.seed,
          method: settings.method,
          budget: settings.budget,
          perLayer: r.perLayer,
          pplBefore: before.ppl,
          pplAfter: after.ppl,
          kvBytesPerTokenBefore: kvBytesPerToken(model),
          kvBytesPerToken: r.kvBytesPerToken,
          calibrationTokens: r.calibrationTokens,
          calibrationText: r.calibrationTokens ? prep.calibrationName : null,
          evalTokens: after.tokens,
          evalText: prep.evalName,
          trainSteps: r.trainSteps,
          trainTokens: r.trainTokens,
          seconds,
          dha:
            settings.method === 'dha'
              ? { ...DHA_DEFAULTS, steps: settings.steps, recoverySteps: settings.recoverySteps, seed: settings.seed, tokensPerStep: settings.tokensPerStep, seqLen: settings.seqLen }
              : undefined,
          history: live && live.runId === runId ? live.curve.map((p) => ({ phase: p.phase, step: p.step, loss: p.loss, fusionLoss: p.fusionK + p.fusionV, constraint: p.constraint, tokens: p.tokens })) : [],
          maps: r.model.layers.map((l) => ({ kHeadOf: l.kv.kHeadOf, vHeadOf: l.kv.vHeadOf })),
          adapter: rt.summary.description || `${rt.summary.vendor} ${rt.summary.architecture}`,
          date: new Date().toISOString(),
        };
        if (!mineNow()) return;
        const id = nextRowId++;
        rowData.set(id, { source: loaded, fused: r.model, tokenizer: loaded.tokenizer, tokenizerFiles, experiment, files: null });
        const row: ResultRow = {
          id,
          model: loaded.name,
          method: settings.method,
          budget: settings.budget,
          perLayer: r.perLayer,
          pplBefore: before.ppl,
          pplAfter: after.ppl,
          evalTokens: after.tokens,
          evalDocuments: after.documents,
          evalText: prep.evalName,
          kvBefore: kvBytesPerToken(model),
          kvAfter: r.kvBytesPerToken,
          seconds,
          trainSteps: r.trainSteps,
          trainTokens: r.trainTokens,
          calibrationTokens: r.calibrationTokens,
          seed: settings.seed,
          fileNames: ['config.json', 'model.safetensors', ...(fitsLlama2c(r.model) ? ['model.bin'] : []), ...tokenizerFiles.map((f) => f.name), 'experiment.json'],
          comparison: null,
        };
        set((s) => ({ rows: [...s.rows, row], running: false, paused: false, waiting: false, stage: null }));
      } catch (e) {
        if (!mineNow()) return;
        set({ running: false, paused: false, waiting: false, stage: null, error: e instanceof LoadCancelledError ? 'Cancelled.' : message(e) });
      } finally {
        if (controller === mine) controller = null;
      }
    },

    pause: () => {
      if (!get().running) return;
      gate.paused = true;
      set({ paused: true });
    },

    resume: () => {
      gate.paused = false;
      gate.allow = 0;
      set({ paused: false });
      wake();
    },

    step: () => {
      if (!gate.paused) return;
      gate.allow = 1;
      wake();
    },

    cancel: () => {
      controller?.abort();
      wake();
    },

    reset: () => {
      currentRun++;
      controller?.abort();
      controller = null;
      gate.paused = false;
      wake();
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
