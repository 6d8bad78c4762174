// Fuse heads: convert the loaded model's K/V heads into fewer with mean-pool, the aligned merge or DHA (our reconstruction),
// watch DHA decide and train (budget bars along the search's path, loss and constraint curves, fusion operators), pause,
// step and resume it, and compare runs in a results table with perplexity before → after, KV-cache bytes, downloads of the
// fused model and a side-by-side continuation.
import { Component, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { useModel } from '../lab/modelStore';
import { useGpu } from '../lab/gpuStore';
import { budgetLabel, compactCounts, rowFile, useFusion, type FusionSettings, type LiveView, type ResultRow } from '../lab/fusionStore';
import type { FusionMethod } from '../fusion/fuse';
import { formatBytes } from '../gpu/errors';
import { BudgetBars } from './charts/BudgetBars';
import { LineChart, type Series } from './charts/LineChart';
import { OperatorGrid } from './charts/OperatorGrid';
import { ExportButtons } from './charts/ExportButtons';
import { downloadBlob } from './charts/exportImage';
import { REDUNDANCY_COLOUR } from './charts/RedundancyBars';

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;
const SAMPLE_NAME = 'the built-in TinyStories sample';

const METHOD_NAME: Record<FusionMethod, string> = { meanpool: 'mean-pool', aligned: 'aligned merge', dha: 'DHA' };

/** One line under each method. */
const METHOD_TEXT: Record<FusionMethod, string> = {
  meanpool: 'GQA mean-pool: contiguous groups of heads averaged, the same number of K and V heads in every layer; no calibration, no training.',
  aligned:
    'Aligned merge (Align-heads): heads grouped by aligned similarity on the calibration text, rotated onto each other (folded into the weights, so the function is unchanged), then averaged.',
  dha: 'DHA, Decoupled-Head Attention (our reconstruction of its search and fusion): the budget is shared out across layers, K and V separately; fusion operators start at the identity and are trained until each group\'s heads are identical.',
};

/** The tooltips: what each method does in more detail. */
const METHOD_TOOLTIP: Record<FusionMethod, string> = {
  meanpool:
    'Ainslie et al. 2023. KV head g serves query heads g·s … g·s+s−1 and its weights are the mean of theirs. The budget must divide the head count evenly (e.g. 8 heads: 50 %, 25 %, 12.5 %).',
  aligned:
    'Jin et al. (Align-heads). One calibration pass gives each layer\'s Grams; heads are grouped by least aligned residual; inside a group V heads are aligned by orthogonal Procrustes (folded into W_V and W_O) and K heads by one rotation per rotary plane (folded into W_Q and W_K), then mean-pooled. Grouping objective and details are ours.',
  dha:
    'Chen et al., NeurIPS 2024; the paper\'s equations are not public, so the search and fusion here are our reconstruction. Search: for every layer and K/V, the best partition into n groups by merge cost on the calibration Grams, and an exact DP that shares the global budget across layers. Fusion: a linear operator Ω per layer and kind, identity at step 0, trained by Adam on each layer\'s attention output (teacher: the original model) with an augmented-Lagrangian pull that drives each group\'s rows together. Then each group becomes one head. Recovery (optional): the merged K/V weights trained on the same loss.',
};

const STEPS_HINT = 'Gradient steps of the fusion stage (DHA only)';

interface Defaults {
  calibrationTokens: number;
  heldOutDocs: number;
  steps: number;
  tokensPerStep: number;
  seqLen: number;
}

/** In-page defaults: small on a CPU fallback adapter (SwiftShader), larger on a real GPU. */
function defaultsFor(fallback: boolean): Defaults {
  return fallback
    ? { calibrationTokens: 2048, heldOutDocs: 8, steps: 20, tokensPerStep: 512, seqLen: 128 }
    : { calibrationTokens: 16384, heldOutDocs: 20, steps: 100, tokensPerStep: 4096, seqLen: 256 };
}

function NumberField(props: { label: string; value: number; onChange: (v: number) => void; title: string; testId: string; min?: number; max?: number; step?: number; disabled?: boolean }) {
  return (
    <label title={props.title}>
      {props.label}{' '}
      <input
        type="number"
        value={Number.isFinite(props.value) ? props.value : ''}
        min={props.min ?? 0}
        max={props.max}
        step={props.step ?? 1}
        disabled={props.disabled}
        onChange={(e) => props.onChange(e.target.valueAsNumber)}
        data-testid={props.testId}
      />
    </label>
  );
}

export function FusionPanel() {
  const loaded = useModel((s) => s.loaded);
  const fallback = useGpu((s) => s.summary?.isFallbackAdapter ?? null);
  const { running, paused, waiting, stage, live, rows, error, comparing, run, pause, resume, step, cancel, reset, compare, stopCompare } = useFusion();
  const [method, setMethod] = useState<FusionMethod>('meanpool');
  const [budgetChoice, setBudgetChoice] = useState<'50' | '25' | 'custom'>('50');
  const [customPct, setCustomPct] = useState(37.5);
  const [calSource, setCalSource] = useState<'sample' | 'file'>('sample');
  const [calFile, setCalFile] = useState<File | null>(null);
  const [evalSource, setEvalSource] = useState<'sample' | 'file'>('sample');
  const [evalFile, setEvalFile] = useState<File | null>(null);
  const [d, setD] = useState<Defaults>(() => defaultsFor(true));
  const [recoverySteps, setRecoverySteps] = useState(0);
  const [seed, setSeed] = useState(1);
  const [prompt, setPrompt] = useState('Once upon a time');
  const [compareTokens, setCompareTokens] = useState(64);
  const [prepError, setPrepError] = useState<string | null>(null);
  const edited = useRef(false);
  const ids = useId();
  useEffect(() => {
    if (fallback !== null && !edited.current) setD(defaultsFor(fallback));
  }, [fallback]);
  if (!loaded) return null;
  const setField = (k: keyof Defaults) => (v: number) => {
    edited.current = true;
    setD((x) => ({ ...x, [k]: v }));
  };
  const budget = budgetChoice === 'custom' ? customPct / 100 : Number(budgetChoice) / 100;
  const isDha = method === 'dha';

  const start = async () => {
    setPrepError(null);
    try {
      const needSample = calSource === 'sample' || evalSource === 'sample';
      const sample = needSample ? await (await fetch(SAMPLE_URL)).text() : '';
      if (calSource === 'file' && !calFile) throw new Error('Choose a calibration text file, or use the built-in sample.');
      if (evalSource === 'file' && !evalFile) throw new Error('Choose an evaluation text file, or use the built-in sample.');
      const calibration = calSource === 'file' ? { text: await calFile!.text(), name: calFile!.name } : { text: sample, name: SAMPLE_NAME };
      const evaluation = evalSource === 'file' ? { text: await evalFile!.text(), name: evalFile!.name } : { text: sample, name: SAMPLE_NAME };
      const sameText = calSource === evalSource && (calSource === 'sample' || calFile === evalFile);
      const settings: FusionSettings = {
        method,
        budget,
        calibrationTokens: d.calibrationTokens,
        steps: d.steps,
        recoverySteps,
        seed,
        tokensPerStep: d.tokensPerStep,
        seqLen: d.seqLen,
      };
      for (const [name, v] of Object.entries({ 'calibration tokens': d.calibrationTokens, 'evaluation documents': d.heldOutDocs, steps: d.steps, 'recovery steps': recoverySteps, seed, 'tokens per step': d.tokensPerStep, 'sequence length': d.seqLen })) {
        if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a whole number ≥ 0; got ${Number.isFinite(v) ? v : 'nothing'}.`);
      }
      void run(loaded, settings, { calibration, evaluation: { ...evaluation, heldOutDocs: d.heldOutDocs }, sameText });
    } catch (e) {
      setPrepError(e instanceof Error ? e.message : String(e));
    }
  };

  const statusText = !running
    ? null
    : paused
      ? waiting
        ? `Paused before step ${(live?.step ?? 0) + 1}${live?.phase === 'recovery' ? ' of recovery' : ''}: Step runs one step, Resume goes on.`
        : 'Pausing: the run stops before its next training step…'
      : `Running… ${stage ?? ''}`;

  return (
    <section className="panel fusion" aria-labelledby={`${ids}-title`} data-testid="fusion-panel">
      <h2 id={`${ids}-title`}>Fuse heads</h2>
      <p className="hint">
        Convert {loaded.name}'s key and value heads into fewer — a smaller KV cache — and measure what it costs in perplexity on text
        that calibration never saw.
      </p>
      <fieldset className="fusion-methods" disabled={running}>
        <legend>Method</legend>
        {(['meanpool', 'aligned', 'dha'] as const).map((m) => (
          <label key={m} className="fusion-method" title={METHOD_TOOLTIP[m]}>
            <input type="radio" name={`${ids}-method`} value={m} checked={method === m} onChange={() => setMethod(m)} data-testid={`fusion-method-${m}`} />{' '}
            <strong>{METHOD_NAME[m]}</strong>
            {m === 'dha' && <span className="badge warn">our reconstruction</span>} <span className="hint">{METHOD_TEXT[m]}</span>
          </label>
        ))}
      </fieldset>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>KV budget</legend>
        <div className="form-row" role="radiogroup" aria-label="KV budget">
          {(['50', '25'] as const).map((b) => (
            <label key={b} title={`Keep ${b} % of the model's K heads and ${b} % of its V heads (KV cache ${b} % of the original)`}>
              <input type="radio" name={`${ids}-budget`} checked={budgetChoice === b} onChange={() => setBudgetChoice(b)} data-testid={`fusion-budget-${b}`} /> {b} %
            </label>
          ))}
          <label title="Any share of the heads in (0, 100] %">
            <input type="radio" name={`${ids}-budget`} checked={budgetChoice === 'custom'} onChange={() => setBudgetChoice('custom')} data-testid="fusion-budget-custom" /> custom
          </label>
          <label title="Custom budget in percent of the K heads and of the V heads">
            <input
              type="number"
              min={0.1}
              max={100}
              step={0.5}
              value={Number.isFinite(customPct) ? customPct : ''}
              disabled={budgetChoice !== 'custom'}
              onChange={(e) => setCustomPct(e.target.valueAsNumber)}
              aria-label="custom budget, percent"
              data-testid="fusion-budget-pct"
            />{' '}
            %
          </label>
        </div>
      </fieldset>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Texts</legend>
        <div className="form-row">
          <label title="The text whose first N tokens calibrate the aligned merge and DHA (mean-pool needs none)">
            Calibration{' '}
            <select value={calSource} onChange={(e) => setCalSource(e.target.value as 'sample' | 'file')} data-testid="fusion-cal-source">
              <option value="sample">built-in sample</option>
              <option value="file">a text file…</option>
            </select>
          </label>
          {calSource === 'file' && (
            <input type="file" accept=".txt,text/plain" aria-label="calibration text file" onChange={(e) => setCalFile(e.target.files?.[0] ?? null)} data-testid="fusion-cal-file" />
          )}
          <NumberField label="first N tokens" value={d.calibrationTokens} onChange={setField('calibrationTokens')} min={2} title="Calibration: the first N tokens of the calibration text (documents are encoded one by one, each with BOS)" testId="fusion-cal-tokens" />
        </div>
        <div className="form-row">
          <label title="The text perplexity is measured on, before and after fusion">
            Evaluation{' '}
            <select value={evalSource} onChange={(e) => setEvalSource(e.target.value as 'sample' | 'file')} data-testid="fusion-eval-source">
              <option value="sample">built-in sample, held out</option>
              <option value="file">a text file…</option>
            </select>
          </label>
          {evalSource === 'file' && (
            <input type="file" accept=".txt,text/plain" aria-label="evaluation text file" onChange={(e) => setEvalFile(e.target.files?.[0] ?? null)} data-testid="fusion-eval-file" />
          )}
          <NumberField label="last M documents" value={d.heldOutDocs} onChange={setField('heldOutDocs')} min={1} title="Evaluate on the last M documents of the evaluation text (split on <|endoftext|>)" testId="fusion-eval-docs" />
        </div>
        <p className="hint" data-testid="fusion-texts-note">
          Perplexity is measured on the last {d.heldOutDocs} documents of {evalSource === 'sample' ? 'the sample' : evalFile?.name ?? 'the evaluation file'}
          {calSource === evalSource && (calSource === 'sample' || calFile === evalFile)
            ? '; calibration reads only the documents before them, so no evaluated text is calibrated on.'
            : '; calibration reads another text — make sure the two do not overlap.'}
        </p>
      </fieldset>
      <fieldset className="fusion-fields" disabled={running || !isDha} title={isDha ? undefined : 'Training settings apply to DHA only'}>
        <legend>DHA training {fallback ? <span className="hint">(small defaults: this adapter is a CPU fallback)</span> : null}</legend>
        <div className="form-row">
          <NumberField label="steps" value={d.steps} onChange={setField('steps')} title={STEPS_HINT} testId="fusion-steps" />
          <NumberField label="recovery steps" value={recoverySteps} onChange={setRecoverySteps} title="Steps that train the merged K/V weights after fusion (0: none)" testId="fusion-recovery-steps" />
          <NumberField label="seed" value={seed} onChange={setSeed} title="Order of the calibration batches: the same seed gives the same budgets and weights" testId="fusion-seed" />
          <NumberField label="tokens per step" value={d.tokensPerStep} onChange={setField('tokensPerStep')} min={2} title="Calibration tokens each step sees (sequences × sequence length)" testId="fusion-tokens-per-step" />
          <NumberField label="sequence length" value={d.seqLen} onChange={setField('seqLen')} min={2} title="Tokens per training sequence (at most the model's context)" testId="fusion-seq-len" />
        </div>
      </fieldset>
      <div className="actions fusion-actions">
        <button type="button" onClick={() => void start()} disabled={running || comparing} data-testid="fusion-run" title="Fuse the loaded model with these settings, then measure perplexity before and after">
          Run
        </button>
        <button
          type="button"
          className="secondary"
          onClick={paused ? resume : pause}
          disabled={!running || !isRunDha(live)}
          aria-pressed={paused}
          data-testid="fusion-pause"
          title={paused ? 'Resume training' : 'Pause before the next training step (DHA)'}
        >
          {paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" className="secondary" onClick={step} disabled={!running || !paused || !waiting} data-testid="fusion-step-once" title="Run one training step, then stay paused">
          Step
        </button>
        <button type="button" className="secondary" onClick={cancel} disabled={!running} data-testid="fusion-cancel" title="Stop this run (nothing is added to the table)">
          Cancel
        </button>
        <button type="button" className="secondary" onClick={reset} disabled={!live && !rows.length && !error} data-testid="fusion-reset" title="Clear the live view and the results table (and stop a run)">
          Reset
        </button>
      </div>
      {(statusText || prepError || error) && (
        <div className="fusion-status">
          {statusText && (
            <p role="status" data-testid="fusion-status">
              {statusText}
            </p>
          )}
          {(prepError || error) && (
            <p className="error" role="alert" data-testid="fusion-error">
              {prepError ?? error}
            </p>
          )}
        </div>
      )}
      {live && (
        <ViewBoundary key={live.runId}>
          <LiveViewSection live={live} />
        </ViewBoundary>
      )}
      {rows.length > 0 && (
        <ResultsTable
          rows={rows}
          prompt={prompt}
          setPrompt={setPrompt}
          compareTokens={compareTokens}
          setCompareTokens={setCompareTokens}
          canCompare={!running && !comparing}
          comparing={comparing}
          onCompare={(id) => void compare(id, prompt, compareTokens)}
          onStop={stopCompare}
        />
      )}
    </section>
  );
}

/** A chart that fails to draw says so in the panel instead of taking the page down. */
class ViewBoundary extends Component<{ children: ReactNode }, { error: string | null }> {
  state = { error: null as string | null };
  static getDerivedStateFromError(e: unknown) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  render() {
    if (this.state.error)
      return (
        <p className="error" role="alert" data-testid="fusion-view-error">
          The live view could not be drawn: {this.state.error}
        </p>
      );
    return this.props.children;
  }
}

function isRunDha(live: LiveView | null): boolean {
  return live?.method === 'dha';
}

/** Plays DHA's budget path: one allocation every `ms` until the last, which stays. */
function usePathIndex(live: LiveView, ms = 160): number {
  const [shown, setShown] = useState({ runId: live.runId, i: 0 });
  const i = shown.runId === live.runId ? shown.i : 0;
  const last = live.searchPath.length - 1;
  useEffect(() => {
    if (i >= last) return;
    const t = setTimeout(() => setShown({ runId: live.runId, i: i + 1 }), ms);
    return () => clearTimeout(t);
  }, [i, last, live.runId, ms]);
  return Math.max(0, Math.min(i, last));
}

function LiveViewSection({ live }: { live: LiveView }) {
  const bars = useRef<SVGSVGElement>(null);
  const lossRef = useRef<SVGSVGElement>(null);
  const fusionRef = useRef<SVGSVGElement>(null);
  const opsRef = useRef<SVGSVGElement>(null);
  const simRef = useRef<SVGSVGElement>(null);
  const idx = usePathIndex(live);
  const path = live.searchPath;
  const playing = path.length > 0 && idx < path.length - 1;
  const perLayer = playing ? path[idx].perLayer : (live.perLayer ?? (path.length ? path[path.length - 1].perLayer : null));
  const totalHeads = live.heads.reduce((a, h) => a + h.k + h.v, 0);
  const kept = perLayer ? perLayer.reduce((a, h) => a + h.k + h.v, 0) : totalHeads;
  const fileBase = `${live.model.replace(/[^\w.-]+/g, '_')}-${live.method}-${Math.round(live.budget * 1000) / 10}`;
  const name = `${METHOD_NAME[live.method]} at ${budgetLabel(live.budget)}`;
  const budgetCaption = [
    `Heads kept per layer — ${name}`,
    path.length
      ? playing
        ? `search: budget path ${idx + 1} / ${path.length}, ${kept} of ${totalHeads} K+V heads (${budgetLabel(kept / totalHeads)})`
        : `search done: ${kept} of ${totalHeads} K+V heads (${budgetLabel(kept / totalHeads)}) · ${live.model}`
      : perLayer
        ? `${kept} of ${totalHeads} K+V heads (${budgetLabel(kept / totalHeads)}) · ${live.model}`
        : `waiting for the ${live.method === 'dha' ? 'search' : 'result'} · ${live.model}`,
  ];
  const fusionPts = live.curve.filter((p) => p.phase === 'fusion');
  const recoveryPts = live.curve.filter((p) => p.phase === 'recovery');
  const lossSeries: Series[] = [
    { key: 'fusion', label: 'fusion phase', colour: '#1d6fb8', points: fusionPts.map((p) => ({ x: p.x, y: p.loss })) },
    ...(live.recoverySteps > 0 ? [{ key: 'recovery', label: 'recovery phase', colour: '#2a7d4f', points: recoveryPts.map((p) => ({ x: p.x, y: p.loss })) }] : []),
  ];
  const constraintSeries: Series[] = [
    { key: 'fusion-k', label: 'fusion loss K', colour: REDUNDANCY_COLOUR.k, points: fusionPts.map((p) => ({ x: p.x, y: p.fusionK })) },
    { key: 'fusion-v', label: 'fusion loss V', colour: REDUNDANCY_COLOUR.v, points: fusionPts.map((p) => ({ x: p.x, y: p.fusionV })) },
    { key: 'constraint', label: 'constraint c', colour: '#5c677d', points: fusionPts.map((p) => ({ x: p.x, y: p.constraint })), dashed: true },
  ];
  const totalSteps = live.steps + live.recoverySteps;
  const done = live.phase === 'recovery' ? live.steps + live.step : live.step;
  const last = live.curve[live.curve.length - 1];
  return (
    <div className="fusion-live" data-testid="fusion-live">
      <div className="sim-view-head">
        <h3>Heads kept per layer</h3>
        <span className="hint">K and V side by side; dashed: the heads each layer had.{live.method === 'dha' ? ' The bars play the search’s path from every head down to the budget.' : ''}</span>
        <ExportButtons target={bars} name={`${fileBase}-budgets`} view="budget bars" testId="fusion-export-budgets" />
      </div>
      <div className="sim-scroll">
        <BudgetBars ref={bars} heads={live.heads} perLayer={perLayer} caption={budgetCaption} />
      </div>
      {live.method === 'dha' && (
        <>
          <p className="fusion-counter" role="status" aria-live="off">
            <span data-testid="fusion-step" data-step={done} data-phase={live.phase ?? ''}>
              {live.phase === 'recovery' ? `recovery step ${live.step} / ${live.recoverySteps}` : `step ${live.step} / ${live.steps}`}
            </span>
            {' · '}
            <span data-testid="fusion-tokens" data-tokens={live.tokens}>
              {live.tokens.toLocaleString('en')} tokens processed
            </span>
            {last && (
              <>
                {' · '}
                <span className="hint">
                  loss {last.loss.toExponential(3)}
                  {last.phase === 'fusion' ? `, fusion loss ${(last.fusionK + last.fusionV).toExponential(2)}, c ${last.constraint.toExponential(2)}` : ''}
                </span>
              </>
            )}
          </p>
          <div className="fusion-charts">
            <div>
              <div className="sim-view-head">
                <h3 title="Mean over layers of each layer's relative squared error of the attention output against the original model">Loss</h3>
                <ExportButtons target={lossRef} name={`${fileBase}-loss`} view="loss curve" testId="fusion-export-loss" />
              </div>
              <LineChart
                ref={lossRef}
                testId="fusion-loss-chart"
                series={lossSeries}
                xMax={totalSteps}
                xLabel="step"
                yLabel="attention-output loss"
                caption={[`Layer-local loss — ${name}`, 'relative squared error of each layer’s attention output, mean over layers']}
                marker={live.recoverySteps > 0 ? { x: live.steps + 0.5, label: 'recovery →' } : undefined}
              />
            </div>
            <div>
              <div className="sim-view-head">
                <h3 title="L_fus = Σ over groups of (1/n²) Σ ‖ω_o − ω_o′‖² over the rows of the group's operators (0: the group's heads are identical); c = L_fus − ε, with the tolerance ε falling to 0 over the first 80 % of the steps">
                  Fusion loss and constraint
                </h3>
                <ExportButtons target={fusionRef} name={`${fileBase}-fusion-loss`} view="fusion-loss curve" testId="fusion-export-constraint" />
              </div>
              <LineChart
                ref={fusionRef}
                testId="fusion-constraint-chart"
                series={constraintSeries}
                xMax={live.steps}
                xLabel="fusion step"
                yLabel="summed over layers"
                caption={[`Fusion loss and constraint — ${name}`, 'c = L_fus − ε; 0 fusion loss: every group’s heads identical']}
              />
            </div>
          </div>
          {live.operators && (
            <>
              <div className="sim-view-head">
                <h3>Fusion operators</h3>
                <span className="hint">Ω_K and Ω_V of each layer at the latest step; hover a cell for its value.</span>
                <ExportButtons target={opsRef} name={`${fileBase}-operators`} view="fusion operators" testId="fusion-export-operators" />
              </div>
              <div className="sim-scroll">
                <OperatorGrid ref={opsRef} operators={live.operators} caption={[`Fusion operators at step ${live.phase === 'fusion' ? live.step : live.steps} — ${name}`]} />
              </div>
            </>
          )}
          {live.similarity && (
            <>
              <div className="sim-view-head">
                <h3>Fused-head similarity</h3>
                <span className="hint">
                  How alike the fused K and V heads' outputs are at the latest step (from the calibration Grams of the aligned heads):
                  the heads of one group reach 1 as their operators are pulled together.
                </span>
                <ExportButtons target={simRef} name={`${fileBase}-similarity`} view="fused-head similarity" testId="fusion-export-similarity" />
              </div>
              <div className="sim-scroll">
                <OperatorGrid ref={simRef} kind="similarity" operators={live.similarity} caption={[`Fused-head similarity at step ${live.phase === 'fusion' ? live.step : live.steps} — ${name}`]} />
              </div>
            </>
          )}
        </>
      )}
    </div>
  );
}

function download(rowId: number, name: string) {
  const f = rowFile(rowId, name);
  if (!f) return;
  const type = name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  downloadBlob(name, new Blob([f.data as Uint8Array<ArrayBuffer>], { type }));
}

function ResultsTable(props: {
  rows: ResultRow[];
  prompt: string;
  setPrompt: (s: string) => void;
  compareTokens: number;
  setCompareTokens: (n: number) => void;
  canCompare: boolean;
  comparing: boolean;
  onCompare: (id: number) => void;
  onStop: () => void;
}) {
  const { rows } = props;
  return (
    <div className="fusion-results">
      <h3>Results</h3>
      <p className="hint">
        One row per run. Perplexity on {rows[rows.length - 1].evalText}; time is the conversion's (calibration, search, training), without
        evaluation or time paused. Download a fused model's files into one folder to open it again in the Model panel (<em>Open folder…</em>).
      </p>
      <div className="sim-scroll">
        <table className="results fusion-table" data-testid="fusion-results">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">method</th>
              <th scope="col" title="Share of K heads and of V heads kept">budget</th>
              <th scope="col" title="Heads kept per layer, K/V">K/V per layer</th>
              <th scope="col" title="Perplexity on the held-out evaluation documents, original → fused">perplexity</th>
              <th scope="col" title="KV-cache bytes per token (float32 K and V of every layer), original → fused">KV bytes/token</th>
              <th scope="col" title="Seconds the conversion took: calibration, search, training; not evaluation, not time paused">time (s)</th>
              <th scope="col" title="Gradient steps (fusion + recovery)">steps</th>
              <th scope="col" title="Tokens processed by gradient steps">train tokens</th>
              <th scope="col" title="Calibration tokens read (mean-pool reads none)">calib. tokens</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <ResultRowView key={r.id} row={r} n={i + 1} canCompare={props.canCompare} onCompare={props.onCompare} />
            ))}
          </tbody>
        </table>
      </div>
      <div className="form-row">
        <label className="grow" title="The prompt both models continue (greedy)">
          Prompt for comparisons <input type="text" value={props.prompt} onChange={(e) => props.setPrompt(e.target.value)} data-testid="fusion-compare-prompt" />
        </label>
        <label title="Tokens each model generates">
          tokens{' '}
          <input type="number" min={1} max={1000} value={props.compareTokens} onChange={(e) => props.setCompareTokens(e.target.valueAsNumber)} data-testid="fusion-compare-tokens" />
        </label>
        {props.comparing && (
          <button type="button" className="secondary" onClick={props.onStop}>
            Stop
          </button>
        )}
      </div>
    </div>
  );
}

function ResultRowView({ row: r, n, canCompare, onCompare }: { row: ResultRow; n: number; canCompare: boolean; onCompare: (id: number) => void }) {
  const c = r.comparison;
  return (
    <>
      <tr data-testid="fusion-row" data-method={r.method} data-budget={r.budget}>
        <td>{n}</td>
        <td title={r.model}>{METHOD_NAME[r.method]}</td>
        <td>{budgetLabel(r.budget)}</td>
        <td className="fusion-counts" data-testid="fusion-row-counts" title={r.perLayer.map((p, l) => `layer ${l}: ${p.k} K, ${p.v} V heads`).join('\n')}>
          {compactCounts(r.perLayer)}
        </td>
        <td data-testid="fusion-row-ppl" data-before={r.pplBefore} data-after={r.pplAfter} title={`${r.evalTokens.toLocaleString('en')} predicted tokens in ${r.evalDocuments} documents of ${r.evalText}`}>
          {r.pplBefore.toFixed(3)} → <strong>{r.pplAfter.toFixed(3)}</strong>
        </td>
        <td data-testid="fusion-row-kv">
          {r.kvBefore.toLocaleString('en')} → {r.kvAfter.toLocaleString('en')}
        </td>
        <td>{r.seconds.toFixed(1)}</td>
        <td>{r.trainSteps}</td>
        <td>{r.trainTokens.toLocaleString('en')}</td>
        <td>{r.calibrationTokens.toLocaleString('en')}</td>
      </tr>
      <tr className="fusion-actions-row" data-testid="fusion-row-actions">
        <td />
        <td colSpan={9}>
          <span className="fusion-files" role="group" aria-label={`Files of run ${n}`}>
            <span className="hint">download</span>
            {r.fileNames.map((f) => (
              <button key={f} type="button" className="secondary" onClick={() => download(r.id, f)} data-testid={`fusion-download-${f}`} title={`Download ${f} of run ${n}`}>
                {f}
              </button>
            ))}
            <button
              type="button"
              className="secondary"
              disabled={!canCompare}
              onClick={() => onCompare(r.id)}
              data-testid="fusion-compare"
              title="Continue the prompt below with the original and with this fused model, side by side (greedy)"
            >
              Compare continuations
            </button>
          </span>
        </td>
      </tr>
      {c && (
        <tr className="fusion-compare-row">
          <td />
          <td colSpan={9}>
            <div className="continuations n2" data-testid="fusion-comparison">
              {(['original', 'fused'] as const).map((which) => (
                <div key={which} className="continuation" data-testid={`fusion-continuation-${which}`}>
                  <div className="hint">
                    {which === 'original' ? `original (${r.model})` : `fused: ${METHOD_NAME[r.method]} at ${budgetLabel(r.budget)}`} — {c[which].tokens} tokens cached, KV cache{' '}
                    {formatBytes(c[which].kvCacheBytes)}
                  </div>
                  <p data-testid="fusion-continuation-text">
                    <strong>{c.prompt}</strong>
                    {c[which].text}
                    {!c[which].done && c.running && <span className="cursor">▍</span>}
                  </p>
                  {c[which].error && <p className="error">{c[which].error}</p>}
                </div>
              ))}
            </div>
          </td>
        </tr>
      )}
    </>
  );
}
