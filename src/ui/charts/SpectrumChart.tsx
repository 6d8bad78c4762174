// Each layer's K/V spectrum as a cumulative-energy curve: the share of the stacked [W_k ; W_v] weights' energy that the best
// k directions keep, against k (src/analysis/spectrum.ts), one curve per layer in viridis order, and a dot at the latent width
// d_c the KV budget gives the layer — how much rank the layer needs, against how much the budget gives it. The x axis runs to
// the widest layer's numerical rank (never more than the model width). Presentation attributes only (exports as SVG/PNG).
import { forwardRef } from 'react';
import { format, interpolateViridis, line, scaleLinear } from 'd3';
import type { LayerSpectrum } from '../../lab/compute/protocol';
import { cumulativeEnergy, numericalRank, widthFor } from '../../analysis/spectrum';
import { ChartSvg, MUTED, XTitle, YTitle } from './ChartSvg';

const pct = format('.1%');

/** A layer's colour: viridis from dark blue (layer 0) to green (the last), leaving out the yellow that vanishes on white. */
export const layerColour = (layer: number, total: number) => interpolateViridis(total > 1 ? (0.85 * layer) / (total - 1) : 0.4);

export interface SpectrumChartProps {
  layers: LayerSpectrum[];
  /** Layers of the model (the legend has room for every one while the curves fill in). */
  total: number;
  /** The budget the latent widths are for, in words ("25 %"). */
  budget: string;
  caption: string[];
}

export const SpectrumChart = forwardRef<SVGSVGElement, SpectrumChartProps>(function SpectrumChart({ layers, total, budget, caption }, ref) {
  const width = 640;
  const legendTop = 12 + caption.length * 16;
  const margin = { top: legendTop + 34, right: 16, bottom: 40, left: 54 };
  const height = 230 + margin.top;
  const curves = layers.map((l) => ({ ...l, kept: cumulativeEnergy(l.singular), rank: numericalRank(l.singular) }));
  const widths = curves.map((c) => ('rank' in c.latent ? c.latent.rank : null));
  const xMax = Math.max(1, ...curves.map((c) => c.rank), ...widths.map((w) => w ?? 0));
  const x = scaleLinear()
    .domain([0, xMax])
    .range([margin.left, width - margin.right]);
  const y = scaleLinear()
    .domain([0, 1])
    .range([height - margin.bottom, margin.top]);
  const path = line<number>()
    .x((_, k) => x(k))
    .y((v) => y(v));
  const shared = widths.length > 0 && widths.every((w) => w !== null && w === widths[0]) ? widths[0] : null;
  const swatch = Math.min(28, (width - margin.left - margin.right - 60) / Math.max(1, total));
  return (
    <ChartSvg ref={ref} width={width} height={height} label={`K/V spectrum per layer: ${caption.join('; ')}`} data-testid="spectrum-chart" caption={caption}>
      <g transform={`translate(${margin.left},${legendTop})`} fontSize={10} fill={MUTED} data-testid="spectrum-legend">
        <text x={0} y={9}>
          layer
        </text>
        {Array.from({ length: total }, (_, l) => (
          <g key={l} transform={`translate(${36 + l * swatch},0)`}>
            <rect width={swatch - 2} height={10} fill={layerColour(l, total)}>
              <title>{`layer ${l}`}</title>
            </rect>
            {(total <= 16 || l === 0 || l === total - 1) && (
              <text x={(swatch - 2) / 2} y={21} textAnchor="middle">
                {l}
              </text>
            )}
          </g>
        ))}
      </g>
      {[0, 0.25, 0.5, 0.75, 1].map((t) => (
        <g key={t} fontSize={10} fill={MUTED}>
          <line x1={margin.left} x2={width - margin.right} y1={y(t)} y2={y(t)} stroke={t === 0 ? '#9aa3b2' : '#dde2ea'} />
          <text x={margin.left - 6} y={y(t) + 3} textAnchor="end">
            {format('.0%')(t)}
          </text>
        </g>
      ))}
      {x
        .ticks(8)
        .filter(Number.isInteger)
        .map((t) => (
          <text key={t} x={x(t)} y={height - margin.bottom + 14} fontSize={10} fill={MUTED} textAnchor="middle">
            {t.toLocaleString('en')}
          </text>
        ))}
      <XTitle left={margin.left} right={width - margin.right} height={height}>
        directions kept (latent width k)
      </XTitle>
      <YTitle top={margin.top} bottom={height - margin.bottom}>
        energy kept
      </YTitle>
      {shared !== null && (
        <g fontSize={10} fill={MUTED} data-testid="spectrum-width-line" data-width={shared}>
          <line x1={x(shared)} x2={x(shared)} y1={margin.top} y2={height - margin.bottom} stroke="#9aa3b2" strokeDasharray="4 3" />
          <text x={x(shared) + 4} y={height - margin.bottom - 6}>
            d_c = {shared} at {budget}
          </text>
        </g>
      )}
      {curves.map((c) => (
        <path
          key={c.layer}
          d={path(c.kept.slice(0, xMax + 1)) ?? ''}
          fill="none"
          stroke={layerColour(c.layer, total)}
          strokeWidth={2}
          data-testid="spectrum-curve"
          data-layer={c.layer}
          data-rank={c.rank}
        >
          <title>{`layer ${c.layer}: ${c.singular.length} rows, ${c.rank} independent directions; 90 % of the energy in ${widthFor(c.singular, 0.9)}, 99 % in ${widthFor(c.singular, 0.99)}`}</title>
        </path>
      ))}
      {curves.map(
        (c) =>
          'rank' in c.latent && (
            <circle
              key={c.layer}
              cx={x(c.latent.rank)}
              cy={y(c.kept[c.latent.rank])}
              r={4.5}
              fill={layerColour(c.layer, total)}
              stroke="#1b263b"
              strokeWidth={1}
              data-testid="spectrum-marker"
              data-layer={c.layer}
              data-width={c.latent.rank}
              data-kept={c.kept[c.latent.rank]}
            >
              <title>{`layer ${c.layer}: at ${budget} the latent is d_c = ${c.latent.rank} wide (beside ${c.latent.ropePairs} rotary pair${c.latent.ropePairs === 1 ? '' : 's'} kept per K head); the best ${c.latent.rank} directions hold ${pct(c.kept[c.latent.rank])} of the stacked K/V weights' energy`}</title>
            </circle>
          ),
      )}
    </ChartSvg>
  );
});
