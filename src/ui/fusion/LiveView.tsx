// The live view of a fusion run: heads kept per layer (DHA's budget path played), DHA's loss, fusion-loss and constraint
// curves, its operators and fused-head similarity, and the recovery training's held-out perplexity as it trains.
import { useEffect, useRef, useState } from 'react';
import { budgetLabel, type LiveView } from '../../lab/fusionStore';
import { BudgetBars } from '../charts/BudgetBars';
import { LineChart, type Series } from '../charts/LineChart';
import { OperatorGrid } from '../charts/OperatorGrid';
import { ExportButtons } from '../charts/ExportButtons';
import { REDUNDANCY_COLOUR } from '../charts/RedundancyBars';
import { METHOD_NAME } from './common';

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

export function LiveViewSection({ live }: { live: LiveView }) {
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
            series={[{ key: 'loss', label: 'training loss', colour: '#1d6fb8', points: pts.filter((p) => p.loss !== null).map((p) => ({ x: p.step, y: p.loss! })) }]}
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

