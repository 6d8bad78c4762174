// Recovery race: one KV budget, several lanes (the four methods, DHA with one part switched, DHA at another split of the
// token budget; src/lab/variants.ts), the same total training tokens and the same batches for each, and one chart of
// held-out perplexity against total training tokens — how fast each converted model recovers (the DHA paper's comparison)
// on the loaded model. Live while it trains; pause / step / cancel; a row per lane here (RaceView.tsx) and in the fusion
// results table; SVG/PNG/CSV export.
import { useId, useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useGpu } from '../lab/gpuStore';
import { useSetting, useSettings, usePanelHidden } from '../lab/settingsStore';
import { useRace } from '../lab/raceStore';
import { LADDER_LANES, LANES } from '../lab/variants';
import { ViewBoundary } from './fusion/common';
import { recoveryOf, RecoveryFields, RECOVERY_KEYS } from './fusion/RecoveryFields';
import { firstProblem } from '../lab/settings';
import { kvQuantOf } from '../lab/kvSettings';
import { kvQuantLabel } from '../model/kvQuant';
import { RaceView } from './RaceView';
import { Field } from './Field';
import { RunControls } from './RunControls';

const LANE_LABEL = Object.fromEntries(LANES.map((l) => [l.key, l.label]));
const LANE_CHANGES = Object.fromEntries(LANES.map((l) => [l.key, l.changes]));

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;
const SAMPLE_NAME = 'the built-in TinyStories sample';

export function RacePanel() {
  const hiddenPanel = usePanelHidden('race');
  const loaded = useModel((s) => s.loaded);
  const fallback = useGpu((s) => s.summary?.isFallbackAdapter ?? null);
  const { running, paused, waiting, stage, race, error, start, pause, resume, step, cancel, reset } = useRace();
  const values = useSettings((s) => s.values);
  const kvQuant = kvQuantOf(values);
  const [, setLanes, { locked }] = useSetting('race.methods');
  const [problem, setProblem] = useState<string | null>(null);
  const ids = useId();
  if (!loaded || hiddenPanel) return null;

  const run = async () => {
    setProblem(null);
    try {
      // Every value is checked against the settings table's own limits, the ones the page address is read with.
      const p = firstProblem(values, ['race.calTokens', 'race.evalDocs', 'race.dhaSteps', 'race.seed', 'race.seeds', ...RECOVERY_KEYS.race]);
      if (p) throw new Error(`${p}.`);
      const train = recoveryOf(values, 'race');
      if (train.steps < 1) throw new Error('The race trains each converted model: give at least one training step.');
      const [calibrationTokens, heldOutDocs, dhaSteps, seed] = [
        values['race.calTokens'],
        values['race.evalDocs'],
        values['race.dhaSteps'],
        values['race.seed'],
      ];
      const sample = await (await fetch(SAMPLE_URL)).text();
      void start(
        loaded,
        {
          // What every lane shares (its recipe is its own: src/lab/variants.ts). DHA's own steps see as many tokens as a
          // training step and come out of the same budget of train.steps steps.
          budget: Number(values['race.budget']) / 100,
          calibrationTokens,
          seed,
          train,
          ownSteps: dhaSteps,
          seeds: values['race.seeds'],
          renormalise: values['race.renorm'],
        },
        values['race.methods'],
        {
          calibration: { text: sample, name: SAMPLE_NAME },
          evaluation: { text: sample, name: SAMPLE_NAME, heldOutDocs, kvQuant },
          sameText: true,
        },
      );
    } catch (e) {
      setProblem(e instanceof Error ? e.message : String(e));
    }
  };

  const lane = race?.lanes[race.current];
  return (
    <section id="recover" className="panel race" aria-labelledby={`${ids}-title`} data-testid="race-panel">
      <h2 id={`${ids}-title`}>Recovery race</h2>
      <p className="hint">
        Convert {loaded.name} in each lane at one budget, then train every converted model end to end toward the original on the same calibration batches,
        measuring held-out perplexity as they go: which starting point recovers fastest? (The DHA paper reports that a fused model needs far less training than
        mean-pooled GQA; here you can check it at equal tokens.) Every lane gets the same total of training tokens: DHA's own layer-local steps come out of it,
        so a DHA lane trains fewer steps end to end, and the two DHA lanes show two ways to spend one budget. Each lane changes one thing; hover its name for
        what.
        {kvQuant && ` Every trained lane is also evaluated through the Evaluate panel’s ${kvQuantLabel(kvQuant)}.`}
      </p>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>Lanes and budget</legend>
        <div className="form-row">
          <Field k="race.methods" testId="race-method" title="The lanes that race" choices={LANE_LABEL} choiceTitles={LANE_CHANGES} />
          <button
            type="button"
            className="secondary"
            disabled={running || locked}
            onClick={() => setLanes([...LADDER_LANES])}
            data-testid="race-ladder"
            title="Race the ladder: from mean-pool to DHA one recipe choice per lane (groups by cost, alignment, renormalisation, separate K/V groups, free sizes, per-layer counts, joint K+V, own steps)"
          >
            The ladder
          </button>
        </div>
        <div className="form-row">
          <Field k="race.budget" testId="race-budget" options={{ '50': '50 %', '25': '25 %' }} title="Share of the K heads and of the V heads kept" />
          <Field
            k="race.dhaSteps"
            testId="race-dha-steps"
            label="DHA's own steps"
            title="Steps of DHA's own layer-local training, each of sequences per step × sequence length tokens, taken out of the training steps below: the DHA lanes train end to end for the rest (the lane with 0 own steps spends every step end to end)"
          />
          <Field
            k="race.renorm"
            testId="race-renorm"
            label="renormalise merged heads"
            title="Rescale each merged head to its members' mean energy in the lanes whose recipe does (the aligned merge and the DHA lanes); off: their plain aligned average"
          />
        </div>
      </fieldset>
      <fieldset className="fusion-fields" disabled={running}>
        <legend>
          Training budget, the same for every lane {fallback ? <span className="hint">(small defaults: this adapter is a CPU fallback)</span> : null}
        </legend>
        <RecoveryFields panel="race" testPrefix="race" />
        <div className="form-row">
          <Field
            k="race.calTokens"
            testId="race-cal-tokens"
            title="The first N tokens of the sample (without the held-out documents): calibration and training data"
          />
          <Field k="race.evalDocs" testId="race-eval-docs" title="Perplexity is measured on the sample's last M documents, which nothing trains on" />
          <Field k="race.seed" testId="race-seed" title="The same seed draws the same training batches for every lane" />
          <Field
            k="race.seeds"
            testId="race-seeds"
            title="Seeds per lane: every lane trains once per seed (seed, seed + 1, …) and is drawn as its mean with a band from the lowest to the highest; a gap inside the band is no measurable difference (1 on a CPU fallback, 3 on a GPU)"
          />
        </div>
      </fieldset>
      <RunControls
        ids={{ run: 'race-run', pause: 'race-pause', step: 'race-step', cancel: 'race-cancel', reset: 'race-reset', status: 'race-status' }}
        runLabel="Run race"
        titles={{
          run: 'Convert in each chosen lane, then train each on the same total of tokens',
          pause: 'Pause before the next training step',
          cancel: 'Stop the race (finished lanes stay)',
          reset: 'Clear the race',
        }}
        running={running}
        paused={paused}
        waiting={waiting}
        stage={stage}
        canReset={!running && Boolean(race || error)}
        pausedText={`Paused (${lane?.label ?? ''}): Step runs one step, Resume goes on.`}
        onRun={() => void run()}
        pause={pause}
        resume={resume}
        step={step}
        cancel={cancel}
        reset={reset}
      />
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
