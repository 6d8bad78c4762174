// Progressive fusion while it runs (src/fusion/progressive.ts): every layer's K and V operators Ω as heatmaps — row h says
// how much of each head of its group head h is made of: the identity at step 0, every row of a group the same when the
// group can collapse — and, per layer, the rows' disagreement Σ c_g and the multiplier λ over the steps. SVG/PNG/CSV export.
import { useRef } from 'react';
import { interpolateRdBu, scaleDiverging } from 'd3';
import type { LiveView } from '../../lab/fusionStore';
import { ChartSvg, CAPTION_LINE, MUTED } from '../charts/ChartSvg';
import { Heatmap } from '../charts/Heatmap';
import { ChartFrame } from '../charts/ChartFrame';
import { LineChart, type Series } from '../charts/LineChart';
import { downloadBlob } from '../charts/exportImage';

/** 1 deep blue, 0 white, −1 red: an operator entry. */
const operatorColour = scaleDiverging(interpolateRdBu).domain([-1, 0, 1]).clamp(true);
const SIZE = 110;
const PALETTE = ['#1d6fb8', '#e07b39', '#2a7d4f', '#8e44ad', '#c0392b', '#16a085', '#7f8c8d', '#d4ac0d'];

/** Every step's Lagrangian per layer and kind, then the latest operators' entries, as CSV. */
export function operatorsCsv(live: LiveView): string {
  const lines = ['step,layer,kind,constraint,lambda'];
  live.lagrangianLayers.forEach((layers, i) =>
    layers.forEach((l, li) => (['k', 'v'] as const).forEach((kind) => lines.push(`${live.lagrangian[i].step},${li},${kind},${l[kind][0]},${l[kind][1]}`))),
  );
  lines.push('', 'layer,kind,row,column,omega');
  live.operators?.forEach((l, li) =>
    (['k', 'v'] as const).forEach((kind) => {
      const { n, omega } = l[kind];
      for (let h = 0; h < n; h++) for (let j = 0; j < n; j++) lines.push(`${li},${kind},${h},${j},${omega[h * n + j]}`);
    }),
  );
  return lines.join('\n') + '\n';
}

export function OperatorsView({ live, name, fileBase }: { live: LiveView; name: string; fileBase: string }) {
  const mapsRef = useRef<SVGSVGElement>(null);
  const cRef = useRef<SVGSVGElement>(null);
  const lambdaRef = useRef<SVGSVGElement>(null);
  const ops = live.operators;
  if (!ops) return null;
  const last = live.lagrangian.at(-1);
  const caption = [
    `Fusion operators — ${name}`,
    `step ${last?.step ?? 0} / ${live.steps}: row h is what head h is made of (blue 1, white 0, red −1); rows of a group agree when it can collapse`,
  ];
  // Layers across, K above V.
  const top = caption.length * CAPTION_LINE + 22;
  const width = Math.max(560, 30 + ops.length * (SIZE + 10));
  const height = top + 2 * (SIZE + 8);
  const perLayer = (pick: (x: { k: [number, number]; v: [number, number] }) => number): Series[] =>
    ops.map((_, li) => ({
      key: `layer ${li}`,
      label: `layer ${li}`,
      colour: PALETTE[li % PALETTE.length],
      points: live.lagrangianLayers.map((ls, i) => ({ x: live.lagrangian[i].step, y: Math.max(pick(ls[li]), 1e-12) })),
    }));
  const csv = () => downloadBlob(`${fileBase}-operators.csv`, new Blob([operatorsCsv(live)], { type: 'text/csv' }));
  return (
    <div data-testid="fusion-operators">
      <div>
        <ChartFrame
          title="Fusion operators"
          hint="each layer’s K and V mixes, drifting from the identity to one row per group"
          target={mapsRef}
          name={`${fileBase}-operators`}
          view="operator heatmaps"
          exportTestId="fusion-export-operators"
          testId="fusion-operators-maps"
          logSwitch={false}
          extra={
            <button
              type="button"
              className="secondary"
              onClick={csv}
              data-testid="fusion-export-operators-csv"
              title="The Lagrangian per step and the latest operators as CSV"
            >
              CSV
            </button>
          }
        >
          {() => (
            <ChartSvg ref={mapsRef} width={width} height={height} label={caption[0]} caption={caption} data-testid="fusion-operators-svg">
              {(['k', 'v'] as const).map((kind, ki) => (
                <text key={kind} x={4} y={top + ki * (SIZE + 8) + SIZE / 2} fontSize={11} fill={MUTED}>
                  {kind.toUpperCase()}
                </text>
              ))}
              {ops.map((l, li) => (
                <g key={li}>
                  <text x={30 + li * (SIZE + 10) + SIZE / 2} y={top - 8} fontSize={11} fill={MUTED} textAnchor="middle">
                    layer {li}
                  </text>
                  {(['k', 'v'] as const).map((kind, ki) => {
                    const { n, omega } = l[kind];
                    const matrix = Array.from({ length: n }, (_, h) => Array.from({ length: n }, (_, j) => omega[h * n + j]));
                    return (
                      <Heatmap
                        key={kind}
                        matrix={matrix}
                        label={`layer ${li}, ${kind.toUpperCase()}`}
                        size={SIZE}
                        x={30 + li * (SIZE + 10)}
                        y={top + ki * (SIZE + 8)}
                        colour={operatorColour}
                        tooltip={(h, j, v) => `layer ${li}, ${kind.toUpperCase()}: head ${h} takes ${v.toFixed(3)} of head ${j}`}
                      />
                    );
                  })}
                </g>
              ))}
            </ChartSvg>
          )}
        </ChartFrame>
      </div>
      <div className="fusion-charts">
        <div>
          <ChartFrame
            title="Rows’ disagreement"
            hint={`Σ c_g per layer (K + V), log scale; ρ now ${last ? last.rho.toPrecision(2) : '—'}, largest c_g/n_g ${last ? last.disagreement.toExponential(1) : '—'}`}
            target={cRef}
            name={`${fileBase}-disagreement`}
            view="disagreement curve"
            exportTestId="fusion-export-disagreement"
            testId="fusion-disagreement"
            logSwitch={false}
          >
            {() => (
              <LineChart
                ref={cRef}
                testId="fusion-disagreement-chart"
                series={perLayer((x) => x.k[0] + x.v[0])}
                xMax={live.steps}
                xLabel="fusion step"
                yLabel="Σ_g Σ_h ‖ω_h − ω̄_g‖²"
                logY
                caption={[
                  `How far each layer's rows are from agreeing — ${name}`,
                  'the augmented Lagrangian λ_g c_g + ρ/2 c_g² pulls them together; λ (largest per layer) grows while they disagree',
                ]}
              />
            )}
          </ChartFrame>
        </div>
        <div>
          <ChartFrame
            title="Multipliers λ"
            hint="the largest λ_g per layer: it grows while the rows disagree"
            target={lambdaRef}
            name={`${fileBase}-lambda`}
            view="multiplier curve"
            exportTestId="fusion-export-lambda"
            testId="fusion-lambda"
            logSwitch={false}
          >
            {() => (
              <LineChart
                ref={lambdaRef}
                testId="fusion-lambda-chart"
                series={perLayer((x) => Math.max(x.k[1], x.v[1]))}
                xMax={live.steps}
                xLabel="fusion step"
                yLabel="λ (largest)"
                caption={[`The multipliers λ per layer — ${name}`, 'λ_g ← λ_g + ρ c_g after every step']}
              />
            )}
          </ChartFrame>
        </div>
      </div>
    </div>
  );
}
