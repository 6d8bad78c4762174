// The live view of a fusion run: heads kept per layer (DHA's budget path played; latent KV keeps every head, and says what
// each layer caches instead), DHA's layer-local loss and the fused model's calibration KL at each check (the best state is
// kept), and the recovery training's loss and held-out perplexity.
import { useEffect, useRef, useState } from 'react';
import { budgetLabel, compactShape, type LiveView } from '../../lab/fusionStore';
import { BudgetBars } from '../charts/BudgetBars';
import { LineChart, type Series } from '../charts/LineChart';
import { ExportButtons } from '../charts/ExportButtons';
import { METHOD_NAME } from './common';
import { HeadLayoutView } from '../HeadLayoutView';
import { OperatorsView } from './OperatorsView';

export function isRunDha(live: LiveView | null): boolean {
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

export function LiveViewSection({ live, headDim }: { live: LiveView; headDim: number }) {
  const bars = useRef<SVGSVGElement>(null);
  const lossRef = useRef<SVGSVGElement>(null);
  const klRef = useRef<SVGSVGElement>(null);
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
  const lossSeries: Series[] = [{ key: 'fusion', label: 'layer-local loss', colour: '#1d6fb8', points: live.curve.map((p) => ({ x: p.step, y: p.loss })) }];
  const klSeries: Series[] = [{ key: 'kl', label: 'KL(original ‖ fused)', colour: '#2a7d4f', points: live.checks.map((c) => ({ x: c.step, y: c.kl })) }];
  const last = live.curve[live.curve.length - 1];
  return (
    <div className="fusion-live" data-testid="fusion-live">
      {live.method === 'mla' ? (
        <p className="hint" data-testid="fusion-latent-live">
          {name}: no head is merged.{' '}
          {live.latent && live.perLayer
            ? `Each layer now caches a latent and its K heads’ kept rotary key dims, d_c + rotary dims per layer: ${compactShape(live.perLayer, live.latent)} — the head layout under the results draws it.`
            : 'The conversion factors each layer’s keys and values into one latent (the stage above).'}
        </p>
      ) : (
        <>
          <div className="sim-view-head">
            <h3>Heads kept per layer</h3>
            <span className="hint">
              K and V side by side; dashed: the heads each layer had.
              {live.method === 'dha' ? ' The bars play the search’s path from every head down to the budget.' : ''}
            </span>
            <ExportButtons target={bars} name={`${fileBase}-budgets`} view="budget bars" testId="fusion-export-budgets" />
          </div>
          <div className="sim-scroll">
            <BudgetBars ref={bars} heads={live.heads} perLayer={perLayer} caption={budgetCaption} />
          </div>
        </>
      )}
      {playing && (
        <HeadLayoutView
          layouts={path[idx].layouts}
          headDim={headDim}
          title={`DHA’s search — ${budgetLabel(path[idx].budget)} of the K+V heads`}
          subtitle={`budget path ${idx + 1} / ${path.length}: where each query head’s K and V go as the budget tightens`}
          kind="search"
          fileName={`${fileBase}-search-layout`}
          testId="fusion-search-layout"
        />
      )}
      {live.operators && <OperatorsView live={live} name={name} fileBase={fileBase} />}
      {live.method === 'dha' && !live.operators && live.lagrangian.length === 0 && (
        <>
          <p className="fusion-counter" role="status" aria-live="off">
            <span
              data-testid="fusion-step"
              data-step={live.phase === 'fusion' ? live.step : live.phase === 'train' ? live.steps : 0}
              data-phase={live.phase ?? ''}
            >
              fusion step {live.phase === 'fusion' ? live.step : live.phase === 'train' ? live.steps : 0} / {live.steps}
            </span>
            {' · '}
            <span data-testid="fusion-tokens" data-tokens={live.tokens}>
              {live.tokens.toLocaleString('en')} tokens processed
            </span>
            {last && <span className="hint"> · layer loss {last.loss.toExponential(3)}</span>}
            {live.checks.length > 0 && (
              <span className="hint" data-testid="fusion-best" data-best={live.bestStep}>
                {' '}
                · kept: step {live.bestStep} (KL {live.checks.find((c) => c.step === live.bestStep)?.kl.toExponential(3)})
              </span>
            )}
          </p>
          <div className="fusion-charts">
            <div>
              <div className="sim-view-head">
                <h3 title="Each layer's attention output against the original's: ‖O − O_T‖² / ‖O_T‖², the mean over layers. Each layer reads the fused model's own input, so later layers learn to compensate earlier ones.">
                  Layer-local loss
                </h3>
                <ExportButtons target={lossRef} name={`${fileBase}-loss`} view="loss curve" testId="fusion-export-loss" />
              </div>
              <LineChart
                ref={lossRef}
                testId="fusion-loss-chart"
                series={lossSeries}
                xMax={live.steps}
                xLabel="fusion step"
                yLabel="attention-output loss"
                caption={[`Layer-local loss — ${name}`, 'relative squared error of each layer’s attention output, mean over layers']}
              />
            </div>
            <div>
              <div className="sim-view-head">
                <h3 title="KL(original ‖ fused) per token on fixed calibration windows, measured at step 0 (the aligned, renormalised merge) and every few steps; the state with the lowest KL is the one kept, so more steps never return a worse model on this probe">
                  Calibration KL
                </h3>
                <ExportButtons target={klRef} name={`${fileBase}-kl`} view="KL curve" testId="fusion-export-kl" />
              </div>
              <LineChart
                ref={klRef}
                testId="fusion-kl-chart"
                series={klSeries}
                xMax={live.steps}
                xLabel="fusion step"
                yLabel="KL per token"
                caption={[`The fused model against the original — ${name}`, `step 0: the aligned merge on DHA’s budgets; kept: step ${live.bestStep}`]}
                marker={live.checks.length ? { x: live.bestStep, label: 'kept' } : undefined}
              />
            </div>
          </div>
        </>
      )}
      {live.trainSteps > 0 && <TrainingView live={live} name={name} fileBase={fileBase} />}
    </div>
  );
}

/** Recovery training: its loss per step and held-out perplexity where measured. */
function TrainingView({ live, name, fileBase }: { live: LiveView; name: string; fileBase: string }) {
  const lossRef = useRef<SVGSVGElement>(null);
  const pplRef = useRef<SVGSVGElement>(null);
  const pts = live.trainCurve;
  const last = pts.at(-1);
  const measured = pts.filter((p) => p.ppl !== null);
  return (
    <>
      <p className="fusion-counter" role="status" aria-live="off">
        <span data-testid="fusion-train-step" data-step={live.phase === 'train' ? live.step : 0}>
          recovery training step {live.phase === 'train' ? live.step : 0} / {live.trainSteps}
        </span>
        {last && last.loss !== null && <span className="hint"> · distillation loss {last.loss.toFixed(4)}</span>}
        {measured.length > 0 && <span className="hint"> · held-out perplexity {measured.at(-1)!.ppl!.toFixed(3)}</span>}
      </p>
      <div className="fusion-charts">
        <div>
          <div className="sim-view-head">
            <h3 title="Mean over the step's tokens of KL(original ‖ fused) — the distillation loss (or the chosen loss)">Training loss</h3>
            <ExportButtons target={lossRef} name={`${fileBase}-training-loss`} view="training-loss curve" testId="fusion-export-train-loss" />
          </div>
          <LineChart
            ref={lossRef}
            testId="fusion-train-loss-chart"
            series={[
              { key: 'loss', label: 'training loss', colour: '#1d6fb8', points: pts.filter((p) => p.loss !== null).map((p) => ({ x: p.step, y: p.loss! })) },
            ]}
            xMax={live.trainSteps}
            xLabel="training step"
            yLabel="loss per token"
            caption={[`Recovery training — ${name}`, 'end-to-end training of every chosen weight toward the original model']}
          />
        </div>
        <div>
          <div className="sim-view-head">
            <h3 title="Perplexity on the held-out evaluation documents, measured before training and every few steps">Held-out perplexity</h3>
            <ExportButtons target={pplRef} name={`${fileBase}-training-ppl`} view="perplexity curve" testId="fusion-export-train-ppl" />
          </div>
          <LineChart
            ref={pplRef}
            testId="fusion-train-ppl-chart"
            series={[{ key: 'ppl', label: 'held-out perplexity', colour: '#2a7d4f', points: measured.map((p) => ({ x: p.step, y: p.ppl! })) }]}
            xMax={live.trainSteps}
            xLabel="training step"
            yLabel="perplexity"
            caption={[`Held-out perplexity while training — ${name}`, 'step 0: the converted model before training']}
          />
        </div>
      </div>
    </>
  );
}
