// Fuse heads: convert the loaded model's K/V heads into fewer with mean-pool, the aligned merge or DHA (our reconstruction),
// optionally train the result end to end toward the original, watch it live (budget bars along DHA's search path, loss and
// constraint curves, fusion operators, the training curve), pause, step and resume it, and compare runs in a results table
// with perplexity before → after, KV-cache bytes, downloads of the fused model and a side-by-side continuation.
import { useEffect, useId, useRef, useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useGpu } from '../lab/gpuStore';
import { useFusion, type FusionSettings, type RecoverySettings } from '../lab/fusionStore';
import type { FusionMethod } from '../fusion/fuse';
import { METHOD_NAME, METHOD_TEXT, METHOD_TOOLTIP, NumberField, ViewBoundary } from './fusion/common';
import { isRunDha, LiveViewSection } from './fusion/LiveView';
import { ResultsTable } from './fusion/ResultsTable';
import { recoveryDefaults, RecoveryFields, recoveryProblem } from './fusion/RecoveryFields';

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;
const SAMPLE_NAME = 'the built-in TinyStories sample';

const STEPS_HINT = 'Steps that train the fused model layer by layer toward the original (DHA only; 0: the aligned, renormalised merge on DHA’s budgets)';

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
  const [train, setTrain] = useState<RecoverySettings>(() => recoveryDefaults(true, 0));
  const [seed, setSeed] = useState(1);
  const [prompt, setPrompt] = useState('Once upon a time');
  const [compareTokens, setCompareTokens] = useState(64);
  const [prepError, setPrepError] = useState<string | null>(null);
  const edited = useRef(false);
  const ids = useId();
  useEffect(() => {
    if (fallback !== null && !edited.current) {
      setD(defaultsFor(fallback));
      setTrain((t) => ({ ...recoveryDefaults(fallback, t.steps) }));
    }
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
        seed,
        tokensPerStep: d.tokensPerStep,
        seqLen: d.seqLen,
        train: train.steps > 0 ? train : null,
      };
      const problem = recoveryProblem(train);
      if (problem) throw new Error(`Recovery training: ${problem}`);
      for (const [name, v] of Object.entries({ 'calibration tokens': d.calibrationTokens, 'evaluation documents': d.heldOutDocs, steps: d.steps, seed, 'tokens per step': d.tokensPerStep, 'sequence length': d.seqLen })) {
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
        ? `Paused before step ${(live?.step ?? 0) + 1}${live?.phase === 'train' ? ' of recovery training' : ''}: Step runs one step, Resume goes on.`
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
          <NumberField label="seed" value={seed} onChange={setSeed} title="Order of the calibration batches: the same seed gives the same budgets and weights" testId="fusion-seed" />
          <NumberField label="tokens per step" value={d.tokensPerStep} onChange={setField('tokensPerStep')} min={2} title="Calibration tokens each step sees (sequences × sequence length)" testId="fusion-tokens-per-step" />
          <NumberField label="sequence length" value={d.seqLen} onChange={setField('seqLen')} min={2} title="Tokens per training sequence (at most the model's context)" testId="fusion-seq-len" />
        </div>
      </fieldset>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Recovery training {fallback ? <span className="hint">(small defaults: this adapter is a CPU fallback)</span> : null}</legend>
        <RecoveryFields
          value={train}
          onChange={(v) => {
            edited.current = true;
            setTrain(v);
          }}
          testPrefix="fusion"
        />
        <p className="hint">
          After the conversion, train the fused model end to end toward the original (distillation on the calibration text, the same
          documents calibration reads); held-out perplexity is measured as it trains. 0 steps: no training.
        </p>
      </fieldset>
      <div className="actions fusion-actions">
        <button type="button" onClick={() => void start()} disabled={running || comparing} data-testid="fusion-run" title="Fuse the loaded model with these settings, then measure perplexity before and after">
          Run
        </button>
        <button
          type="button"
          className="secondary"
          onClick={paused ? resume : pause}
          disabled={!running || !(isRunDha(live) || (live?.trainSteps ?? 0) > 0)}
          aria-pressed={paused}
          data-testid="fusion-pause"
          title={paused ? 'Resume training' : 'Pause before the next training step (DHA or recovery training)'}
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

