// Fuse heads: convert the loaded model's K/V heads into fewer with mean-pool, the aligned merge or DHA (our reconstruction),
// or its KV cache into a latent (MLA), optionally train the result end to end toward the original, watch it live (budget
// bars along DHA's search path, its layer-local loss and the KL checks with the step kept, the training curves), pause,
// step and resume it, and compare runs in a results table with perplexity before → after, KV-cache bytes, downloads of the
// fused model and a side-by-side continuation. Each method's own settings: fusion/MethodFields.tsx.
import { useId, useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useGpu } from '../lab/gpuStore';
import { budgetLabel, useFusion } from '../lab/fusionStore';
import { HeadLayoutView } from './HeadLayoutView';
import { useSettings, usePanelHidden } from '../lab/settingsStore';
import { METHOD_NAME, METHOD_TEXT, METHOD_TOOLTIP, ViewBoundary } from './fusion/common';
import { isRunDha, LiveViewSection } from './fusion/LiveView';
import { ResultsTable } from './fusion/ResultsTable';
import { MethodFields } from './fusion/MethodFields';
import { recoveryOf, RecoveryFields, RECOVERY_KEYS } from './fusion/RecoveryFields';
import { firstProblem } from '../lab/settings';
import { kvQuantOf } from '../lab/kvSettings';
import { kvQuantLabel } from '../model/kvQuant';
import { runConfigOf } from '../lab/fuseSettings';
import { FUSION_METHODS } from '../fusion/fuse';
import { Field } from './Field';
import { RunControls } from './RunControls';
import { TextRow } from './fusion/TextRow';

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;
const SAMPLE_NAME = 'the built-in TinyStories sample';

export function FusionPanel() {
  const hiddenPanel = usePanelHidden('fuse');
  const loaded = useModel((s) => s.loaded);
  const fallback = useGpu((s) => s.summary?.isFallbackAdapter ?? null);
  const { running, paused, waiting, stage, live, rows, selected, error, comparing, run, pause, resume, step, cancel, reset, compare, stopCompare } =
    useFusion();
  const selectedRow = rows.find((r) => r.id === selected) ?? null;
  const values = useSettings((s) => s.values);
  const kvQuant = kvQuantOf(values);
  const [calFile, setCalFile] = useState<File | null>(null);
  const [evalFile, setEvalFile] = useState<File | null>(null);
  const [prepError, setPrepError] = useState<string | null>(null);
  const ids = useId();
  if (!loaded || hiddenPanel) return null;
  const method = values['fuse.method'];
  const calSource = values['fuse.cal'];
  const evalSource = values['fuse.eval'];
  const budgetChoice = values['fuse.budget'];
  const heldOutDocs = values['fuse.evalDocs'];

  const start = async () => {
    setPrepError(null);
    try {
      const needSample = calSource === 'sample' || evalSource === 'sample';
      const sample = needSample ? await (await fetch(SAMPLE_URL)).text() : '';
      if (calSource === 'file' && !calFile) throw new Error('Choose a calibration text file, or use the built-in sample.');
      if (evalSource === 'file' && !evalFile) throw new Error('Choose an evaluation text file, or use the built-in sample.');
      const calibration = calSource === 'file' ? { file: calFile!, name: calFile!.name } : { text: sample, name: SAMPLE_NAME };
      const evaluation = evalSource === 'file' ? { file: evalFile!, name: evalFile!.name } : { text: sample, name: SAMPLE_NAME };
      const sameText = calSource === evalSource && (calSource === 'sample' || calFile === evalFile);
      // Every value is checked against the settings table's own limits, the ones the page address is read with.
      const r = runConfigOf(values, recoveryOf(values, 'fuse'), fallback ?? false);
      if ('problem' in r) throw new Error(r.problem);
      const problem = firstProblem(values, RECOVERY_KEYS.fuse);
      if (problem) throw new Error(`${problem}.`);
      void run(loaded, r.config, { calibration, evaluation: { ...evaluation, heldOutDocs, kvQuant }, sameText });
    } catch (e) {
      setPrepError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <section id="fuse" className="panel fusion" aria-labelledby={`${ids}-title`} data-testid="fusion-panel">
      <h2 id={`${ids}-title`}>Fuse heads</h2>
      <p className="hint">
        Convert {loaded.name}'s key and value heads into fewer — a smaller KV cache — and measure what it costs in perplexity on text that calibration never
        saw.
      </p>
      <fieldset className="fusion-methods" disabled={running}>
        <legend>Method</legend>
        <Field
          k="fuse.method"
          testId="fusion-method"
          title="The conversion method"
          className="fusion-method"
          choiceTitles={METHOD_TOOLTIP}
          choices={Object.fromEntries(
            FUSION_METHODS.map((m) => [
              m,
              <>
                <strong>{METHOD_NAME[m]}</strong>
                {m === 'dha' && <span className="badge warn">our reconstruction</span>} <span className="hint">{METHOD_TEXT[m]}</span>
              </>,
            ]),
          )}
        />
      </fieldset>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>KV budget</legend>
        <div className="form-row" role="radiogroup" aria-label="KV budget">
          <Field
            k="fuse.budget"
            testId="fusion-budget"
            title="Share of the K heads and of the V heads kept (latent KV: share of the numbers cached per token)"
            choices={{ '50': '50 %', '25': '25 %', custom: 'custom' }}
            choiceTitles={{
              '50': "Keep 50 % of the model's K heads and 50 % of its V heads (KV cache 50 % of the original)",
              '25': "Keep 25 % of the model's K heads and 25 % of its V heads (KV cache 25 % of the original)",
              custom: 'Any share of the heads in (0, 100] %',
            }}
          />
          <Field
            k="fuse.pct"
            testId="fusion-budget-pct"
            label=""
            step={0.5}
            disabled={budgetChoice !== 'custom'}
            title="Custom budget in percent of the K heads and of the V heads"
            suffix=" %"
          />
        </div>
      </fieldset>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Texts</legend>
        <TextRow
          source="fuse.cal"
          amount="fuse.calTokens"
          testId="fusion-cal"
          amountTestId="fusion-cal-tokens"
          label="Calibration"
          sampleLabel="built-in sample"
          title="The text whose first N tokens calibrate the aligned merge, DHA and latent KV (mean-pool needs none) and train the recovery"
          amountLabel="first N tokens"
          amountTitle="Calibration: the first N tokens of the calibration text (documents are encoded one by one, each with BOS)"
          fileLabel="calibration text file"
          isFile={calSource === 'file'}
          onFile={setCalFile}
        />
        <TextRow
          source="fuse.eval"
          amount="fuse.evalDocs"
          testId="fusion-eval"
          amountTestId="fusion-eval-docs"
          label="Evaluation"
          sampleLabel="built-in sample, held out"
          title="The text perplexity is measured on, before and after fusion"
          amountLabel="last M documents"
          amountTitle="Evaluate on the last M documents of the evaluation text (split on <|endoftext|>)"
          fileLabel="evaluation text file"
          isFile={evalSource === 'file'}
          onFile={setEvalFile}
        />
        <p className="hint" data-testid="fusion-texts-note">
          Perplexity is measured on the last {heldOutDocs} documents of {evalSource === 'sample' ? 'the sample' : (evalFile?.name ?? 'the evaluation file')}
          {calSource === evalSource && (calSource === 'sample' || calFile === evalFile)
            ? '; calibration reads only the documents before them, so no evaluated text is calibrated on.'
            : '; calibration reads another text — make sure the two do not overlap.'}
          {kvQuant && ` The original and the result are also evaluated through the Evaluate panel’s ${kvQuantLabel(kvQuant)}.`}
        </p>
      </fieldset>
      <MethodFields method={method} running={running} fallback={fallback} />
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Recovery training {fallback ? <span className="hint">(small defaults: this adapter is a CPU fallback)</span> : null}</legend>
        <RecoveryFields panel="fuse" testPrefix="fusion" />
        <p className="hint">
          After the conversion, train the fused model end to end toward the original (distillation on the calibration text, the same documents calibration
          reads); held-out perplexity is measured as it trains. 0 steps: no training.
        </p>
      </fieldset>
      <RunControls
        ids={{ run: 'fusion-run', pause: 'fusion-pause', step: 'fusion-step-once', cancel: 'fusion-cancel', reset: 'fusion-reset', status: 'fusion-status' }}
        runLabel="Run"
        titles={{
          run: 'Fuse the loaded model with these settings, then measure perplexity before and after',
          pause: 'Pause before the next training step (DHA or recovery training)',
          cancel: 'Stop this run (nothing is added to the table)',
          reset: 'Clear the live view and the results table (and stop a run)',
        }}
        running={running}
        paused={paused}
        waiting={waiting}
        stage={stage}
        canRun={!comparing}
        canPause={isRunDha(live) || (live?.trainSteps ?? 0) > 0}
        canReset={Boolean(live || rows.length || error)}
        pausedText={`Paused before step ${(live?.step ?? 0) + 1}${live?.phase === 'train' ? ' of recovery training' : ''}: Step runs one step, Resume goes on.`}
        onRun={() => void start()}
        pause={pause}
        resume={resume}
        step={step}
        cancel={cancel}
        reset={reset}
      />
      {(prepError || error) && (
        <p className="error" role="alert" data-testid="fusion-error">
          {prepError ?? error}
        </p>
      )}
      {live && (
        <ViewBoundary key={live.runId}>
          <LiveViewSection live={live} headDim={loaded.card.headDim} />
        </ViewBoundary>
      )}
      {rows.length > 0 && (
        <ResultsTable
          rows={rows}
          canCompare={!running && !comparing}
          comparing={comparing}
          onCompare={(id) => void compare(id, values['fuse.prompt'], values['fuse.compareTokens'])}
          onStop={stopCompare}
        />
      )}
      {selectedRow && (
        <HeadLayoutView
          layouts={selectedRow.layouts}
          headDim={loaded.card.headDim}
          title={`Head layout — ${selectedRow.label} at ${budgetLabel(selectedRow.budget)}`}
          subtitle={`run ${rows.indexOf(selectedRow) + 1} of the table, from ${selectedRow.model}`}
          kind="result"
          fileName={`${selectedRow.model.replace(/[^\w.-]+/g, '_')}-${selectedRow.method}-${Math.round(selectedRow.budget * 1000) / 10}-head-layout`}
          testId="fusion-head-layout"
        />
      )}
    </section>
  );
}
