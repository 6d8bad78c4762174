// Recovery race: one KV budget, several conversion methods, the same end-to-end training for each, and one chart of
// held-out perplexity against training tokens — how fast each converted model recovers (the DHA paper's comparison) on the
// loaded model. Live while it trains; pause / step / cancel; a row per method here and in the fusion results table;
// SVG/PNG/CSV export.
import { useEffect, useId, useRef, useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useGpu } from '../lab/gpuStore';
import { raceCsv, useRace, type Race } from '../lab/raceStore';
import { budgetLabel, compactCounts, type RecoverySettings } from '../lab/fusionRun';
import { FUSION_METHODS, type FusionMethod } from '../fusion/fuse';
import { LineChart, type Series } from './charts/LineChart';
import { ExportButtons } from './charts/ExportButtons';
import { downloadBlob } from './charts/exportImage';
import { METHOD_COLOUR, METHOD_NAME, METHOD_TOOLTIP, NumberField, ViewBoundary } from './fusion/common';
import { recoveryDefaults, RecoveryFields, recoveryProblem } from './fusion/RecoveryFields';

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;
const SAMPLE_NAME = 'the built-in TinyStories sample';

interface RaceTexts {
  calibrationTokens: number;
  heldOutDocs: number;
  dhaSteps: number;
}

function textDefaults(fallback: boolean): RaceTexts {
  return fallback ? { calibrationTokens: 8192, heldOutDocs: 6, dhaSteps: 10 } : { calibrationTokens: 65536, heldOutDocs: 20, dhaSteps: 100 };
}

export function RacePanel() {
  const loaded = useModel((s) => s.loaded);
  const fallback = useGpu((s) => s.summary?.isFallbackAdapter ?? null);
  const { running, paused, waiting, stage, race, error, start, pause, resume, step, cancel, reset } = useRace();
  const [methods, setMethods] = useState<FusionMethod[]>([...FUSION_METHODS]);
  const [budget, setBudget] = useState(0.25);
  const [train, setTrain] = useState<RecoverySettings>(() => recoveryDefaults(true, 12));
  const [texts, setTexts] = useState<RaceTexts>(() => textDefaults(true));
  const [seed, setSeed] = useState(1);
  const [problem, setProblem] = useState<string | null>(null);
  const edited = useRef(false);
  const ids = useId();
  useEffect(() => {
    if (fallback !== null && !edited.current) {
      setTrain(recoveryDefaults(fallback, fallback ? 12 : 100));
      setTexts(textDefaults(fallback));
    }
  }, [fallback]);
  if (!loaded) return null;
  const edit = <T,>(f: (v: T) => void) => (v: T) => {
    edited.current = true;
    f(v);
  };

  const run = async () => {
    setProblem(null);
    try {
      const p = recoveryProblem(train);
      if (p) throw new Error(p);
      if (train.steps < 1) throw new Error('The race trains each converted model: give at least one training step.');
      for (const [name, v, min] of [['calibration tokens', texts.calibrationTokens, 2], ['held-out documents', texts.heldOutDocs, 1], ['DHA fusion steps', texts.dhaSteps, 0], ['seed', seed, 0]] as const) {
        if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number ≥ ${min}; got ${Number.isFinite(v) ? v : 'nothing'}.`);
      }
      const sample = await (await fetch(SAMPLE_URL)).text();
      void start(
        loaded,
        {
          // DHA's own steps see as many tokens as a training step, so that steps compare on the chart's token axis.
          method: 'meanpool', budget, calibrationTokens: texts.calibrationTokens, steps: texts.dhaSteps, seed,
          tokensPerStep: train.batch * train.seqLen, seqLen: train.seqLen, train,
        },
        methods,
        { calibration: { text: sample, name: SAMPLE_NAME }, evaluation: { text: sample, name: SAMPLE_NAME, heldOutDocs: texts.heldOutDocs }, sameText: true },
      );
    } catch (e) {
      setProblem(e instanceof Error ? e.message : String(e));
    }
  };

  const toggle = (m: FusionMethod) => edit(setMethods)(methods.includes(m) ? methods.filter((x) => x !== m) : FUSION_METHODS.filter((x) => x === m || methods.includes(x)));
  const lane = race?.lanes[race.current];
  const statusText = !running
    ? null
    : paused
      ? waiting
        ? `Paused (${lane ? METHOD_NAME[lane.method] : ''}): Step runs one step, Resume goes on.`
        : 'Pausing before the next step…'
      : `Running… ${stage ?? ''}`;
  return (
    <section className="panel race" aria-labelledby={`${ids}-title`} data-testid="race-panel">
      <h2 id={`${ids}-title`}>Recovery race</h2>
      <p className="hint">
        Convert {loaded.name} with each method at one budget, then train every converted model end to end toward the original on the
        same calibration batches, measuring held-out perplexity as they go: which starting point recovers fastest? (DHA's claim: a
        fused model needs far less training than mean-pooled GQA.) Tokens count DHA's own fusion steps too.
      </p>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Methods and budget</legend>
        <div className="form-row">
          {FUSION_METHODS.map((m) => (
            <label key={m} title={METHOD_TOOLTIP[m]}>
              <input type="checkbox" checked={methods.includes(m)} onChange={() => toggle(m)} data-testid={`race-method-${m}`} /> {METHOD_NAME[m]}
            </label>
          ))}
          <label title="Share of the K heads and of the V heads kept">
            budget{' '}
            <select value={budget} onChange={(e) => edit(setBudget)(Number(e.target.value))} data-testid="race-budget">
              <option value={0.5}>50 %</option>
              <option value={0.25}>25 %</option>
            </select>
          </label>
          <NumberField label="DHA fusion steps" value={texts.dhaSteps} onChange={edit((v: number) => setTexts((t) => ({ ...t, dhaSteps: v })))} title="Steps of DHA's own fusion stage before the shared training (its tokens count on the chart)" testId="race-dha-steps" />
        </div>
      </fieldset>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Training, the same for every method {fallback ? <span className="hint">(small defaults: this adapter is a CPU fallback)</span> : null}</legend>
        <RecoveryFields value={train} onChange={edit(setTrain)} testPrefix="race" />
        <div className="form-row">
          <NumberField label="calibration tokens" value={texts.calibrationTokens} onChange={edit((v: number) => setTexts((t) => ({ ...t, calibrationTokens: v })))} min={2} title="The first N tokens of the sample (without the held-out documents): calibration and training data" testId="race-cal-tokens" />
          <NumberField label="held-out documents" value={texts.heldOutDocs} onChange={edit((v: number) => setTexts((t) => ({ ...t, heldOutDocs: v })))} min={1} title="Perplexity is measured on the sample's last M documents, which nothing trains on" testId="race-eval-docs" />
          <NumberField label="seed" value={seed} onChange={edit(setSeed)} title="The same seed draws the same training batches for every method" testId="race-seed" />
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
