// Recovery race: one KV budget, several conversion methods, the same end-to-end training for each, and one chart of
// held-out perplexity against training tokens — how fast each converted model recovers (the DHA paper's comparison) on the
// loaded model. Live while it trains; pause / step / cancel; a row per method here and in the fusion results table;
// SVG/PNG/CSV export.
import { useId, useRef, useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useGpu } from '../lab/gpuStore';
import { useSettings, usePanelHidden } from '../lab/settingsStore';
import { raceCsv, useRace, type Race } from '../lab/raceStore';
import { budgetLabel, compactCounts } from '../lab/fusionRun';
import type { FusionMethod } from '../fusion/fuse';
import { LineChart, type Series } from './charts/LineChart';
import { ExportButtons } from './charts/ExportButtons';
import { downloadBlob } from './charts/exportImage';
import { METHOD_COLOUR, METHOD_NAME, METHOD_TOOLTIP, ViewBoundary } from './fusion/common';
import { recoveryOf, RecoveryFields, recoveryProblem } from './fusion/RecoveryFields';
import { Field } from './Field';

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;
const SAMPLE_NAME = 'the built-in TinyStories sample';

export function RacePanel() {
  const hiddenPanel = usePanelHidden('race');
  const loaded = useModel((s) => s.loaded);
  const fallback = useGpu((s) => s.summary?.isFallbackAdapter ?? null);
  const { running, paused, waiting, stage, race, error, start, pause, resume, step, cancel, reset } = useRace();
  const values = useSettings((s) => s.values);
  const [problem, setProblem] = useState<string | null>(null);
  const ids = useId();
  if (!loaded || hiddenPanel) return null;
  const v = <T,>(k: string) => values[`race.${k}`] as T;

  const run = async () => {
    setProblem(null);
    try {
      const train = recoveryOf(values, 'race');
      const p = recoveryProblem(train);
      if (p) throw new Error(p);
      if (train.steps < 1) throw new Error('The race trains each converted model: give at least one training step.');
      const [calibrationTokens, heldOutDocs, dhaSteps, seed] = [v<number>('calTokens'), v<number>('evalDocs'), v<number>('dhaSteps'), v<number>('seed')];
      for (const [name, x, min] of [['calibration tokens', calibrationTokens, 2], ['held-out documents', heldOutDocs, 1], ['DHA fusion steps', dhaSteps, 0], ['seed', seed, 0]] as const) {
        if (!Number.isInteger(x) || x < min) throw new Error(`${name} must be a whole number ≥ ${min}; got ${Number.isFinite(x) ? x : 'nothing'}.`);
      }
      const sample = await (await fetch(SAMPLE_URL)).text();
      void start(
        loaded,
        {
          // DHA's own steps see as many tokens as a training step, so that steps compare on the chart's token axis.
          method: 'meanpool', budget: Number(v<string>('budget')) / 100, calibrationTokens, steps: dhaSteps, seed,
          tokensPerStep: train.batch * train.seqLen, seqLen: train.seqLen, train, renormalise: true, allocation: 'search', kvSplit: 'equal',
        },
        v<FusionMethod[]>('methods'),
        { calibration: { text: sample, name: SAMPLE_NAME }, evaluation: { text: sample, name: SAMPLE_NAME, heldOutDocs }, sameText: true },
      );
    } catch (e) {
      setProblem(e instanceof Error ? e.message : String(e));
    }
  };

  const lane = race?.lanes[race.current];
  const statusText = !running
    ? null
    : paused
      ? waiting
        ? `Paused (${lane ? METHOD_NAME[lane.method] : ''}): Step runs one step, Resume goes on.`
        : 'Pausing before the next step…'
      : `Running… ${stage ?? ''}`;
  return (
    <section id="recover" className="panel race" aria-labelledby={`${ids}-title`} data-testid="race-panel">
      <h2 id={`${ids}-title`}>Recovery race</h2>
      <p className="hint">
        Convert {loaded.name} with each method at one budget, then train every converted model end to end toward the original on the
        same calibration batches, measuring held-out perplexity as they go: which starting point recovers fastest? (DHA's claim: a
        fused model needs far less training than mean-pooled GQA.) Tokens count DHA's own fusion steps too.
      </p>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Methods and budget</legend>
        <div className="form-row">
          <Field k="race.methods" testId="race-method" title="The methods that race" choices={METHOD_NAME} choiceTitles={METHOD_TOOLTIP} />
          <Field k="race.budget" testId="race-budget" options={{ '50': '50 %', '25': '25 %' }} title="Share of the K heads and of the V heads kept" />
          <Field k="race.dhaSteps" testId="race-dha-steps" label="DHA fusion steps" title="Steps of DHA's own layer-local training before the shared training (its tokens count on the chart)" />
        </div>
      </fieldset>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Training, the same for every method {fallback ? <span className="hint">(small defaults: this adapter is a CPU fallback)</span> : null}</legend>
        <RecoveryFields panel="race" testPrefix="race" />
        <div className="form-row">
          <Field k="race.calTokens" testId="race-cal-tokens" title="The first N tokens of the sample (without the held-out documents): calibration and training data" />
          <Field k="race.evalDocs" testId="race-eval-docs" title="Perplexity is measured on the sample's last M documents, which nothing trains on" />
          <Field k="race.seed" testId="race-seed" title="The same seed draws the same training batches for every method" />
        </div>
      </fieldset>
      <div className="actions fusion-actions">
        <button type="button" onClick={() => void run()} disabled={running} data-testid="race-run" title="Convert with each chosen method, then train each the same way">
          Run race
        </button>
        <button type="button" className="secondary" onClick={paused ? resume : pause} disabled={!running} aria-pressed={paused} data-testid="race-pause" title={paused ? 'Resume' : 'Pause before the next training step'}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" className="secondary" onClick={step} disabled={!running || !paused || !waiting} data-testid="race-step" title="Run one step, then stay paused">
          Step
        </button>
        <button type="button" className="secondary" onClick={cancel} disabled={!running} data-testid="race-cancel" title="Stop the race (finished methods stay)">
          Cancel
        </button>
        <button type="button" className="secondary" onClick={reset} disabled={running || (!race && !error)} data-testid="race-reset" title="Clear the race">
          Reset
        </button>
      </div>
      {statusText && (
        <p role="status" data-testid="race-status">
          {statusText}
        </p>
      )}
      {(problem || error) && (
        <p className="error" role="alert" data-testid="race-error">
          {problem ?? error}
        </p>
      )}
      {race && (
        <ViewBoundary key={race.runId} what="race chart" testId="race-view-error">
          <RaceView race={race} />
        </ViewBoundary>
      )}
    </section>
  );
}

const STATUS: Record<string, string> = { waiting: 'waiting', converting: 'converting…', training: 'training…', done: 'done', failed: 'failed' };

function RaceView({ race }: { race: Race }) {
  const chart = useRef<SVGSVGElement>(null);
  const tokensPerStep = race.settings.train!.batch * race.settings.train!.seqLen;
  const xMax = Math.max(tokensPerStep * race.settings.train!.steps, ...race.lanes.flatMap((l) => l.curve.map((p) => p.tokens)));
  const series: Series[] = race.lanes.map((l) => ({
    key: l.method,
    label: METHOD_NAME[l.method],
    colour: METHOD_COLOUR[l.method],
    points: l.curve.filter((p) => p.ppl !== null).map((p) => ({ x: p.tokens, y: p.ppl! })),
  }));
  if (race.pplOriginal !== null) series.push({ key: 'original', label: 'original', colour: '#000000', dashed: true, points: [{ x: 0, y: race.pplOriginal }, { x: xMax, y: race.pplOriginal }] });
  const name = `${race.model.replace(/[^\w.-]+/g, '_')}-race-${Math.round(race.budget * 1000) / 10}`;
  return (
    <div className="race-view" data-testid="race-view">
      <div className="sim-view-head">
        <h3>Held-out perplexity while training</h3>
        <span className="hint">One line per method; dashed: the original model. Hover a point for its value.</span>
        <ExportButtons target={chart} name={name} view="race chart" testId="race-export" />
        <button type="button" className="secondary" onClick={() => downloadBlob(`${name}.csv`, new Blob([raceCsv(race)], { type: 'text/csv' }))} data-testid="race-export-csv" title="Every measured point as CSV">
          CSV
        </button>
      </div>
      <div className="sim-scroll">
        <LineChart
          ref={chart}
          testId="race-chart"
          series={series}
          xMax={xMax}
          xLabel="training tokens"
          yLabel="held-out perplexity"
          width={680}
          caption={[
            `Recovery race at ${budgetLabel(race.budget)} of the K/V heads — ${race.model}`,
            `${race.settings.train!.steps} steps × ${tokensPerStep.toLocaleString('en')} tokens, lr ${race.settings.train!.lr}, trains ${race.settings.train!.params}; held-out: ${race.evalText?.replace(/ \(documents.*\)$/, '') ?? '…'}`,
          ]}
        />
      </div>
      <table className="results race-table" data-testid="race-results">
        <thead>
          <tr>
            <th scope="col">method</th>
            <th scope="col">status</th>
            <th scope="col" title="Heads kept per layer, K/V">K/V per layer</th>
            <th scope="col" title="KV-cache bytes per token, original → converted">KV bytes/token</th>
            <th scope="col" title="Held-out perplexity: the original, after the conversion, after the training">perplexity</th>
            <th scope="col" title="Conversion and training, without evaluation or pauses">time (s)</th>
          </tr>
        </thead>
        <tbody>
          {race.lanes.map((l) => (
            <tr key={l.method} data-testid="race-row" data-method={l.method} data-status={l.status} data-converted={l.pplConverted ?? undefined} data-after={l.pplAfter ?? undefined}>
              <td>
                <span className="swatch" style={{ background: METHOD_COLOUR[l.method] }} aria-hidden /> {METHOD_NAME[l.method]}
              </td>
              <td title={l.error ?? undefined}>{l.status === 'failed' ? `failed: ${l.error}` : STATUS[l.status]}</td>
              <td className="fusion-counts">{l.perLayer ? compactCounts(l.perLayer) : '—'}</td>
              <td>{l.kvBytesPerToken !== null ? `${race.kvOriginal.toLocaleString('en')} → ${l.kvBytesPerToken.toLocaleString('en')}` : '—'}</td>
              <td>
                {race.pplOriginal !== null ? race.pplOriginal.toFixed(3) : '…'} → {l.pplConverted !== null ? l.pplConverted.toFixed(3) : '…'} →{' '}
                <strong>{l.pplAfter !== null ? l.pplAfter.toFixed(3) : '…'}</strong>
              </td>
              <td>{l.seconds !== null ? l.seconds.toFixed(1) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
