// Redundancy per layer as D3 bars, K and V side by side: the share of the layer's K (or V) output energy lost when its
// closest pair of heads is merged into their mean (src/analysis/redundancy.ts). Lower bars: more redundant heads. The
// x axis has room for every layer from the start, so the bars fill in as layers are computed.
import { forwardRef } from 'react';
import { format, scaleBand, scaleLinear } from 'd3';
import type { MergeLoss } from '../../analysis/redundancy';
import { ChartSvg, YTitle } from './ChartSvg';

export interface RedundancyLayer {
  layer: number;
  k: MergeLoss;
  v: MergeLoss;
}

export const REDUNDANCY_COLOUR = { k: '#1d6fb8', v: '#e07a3f' } as const;

const pct = format('.1%');

export function redundancyTooltip(layer: number, kind: 'k' | 'v', m: MergeLoss): string {
  const K = kind.toUpperCase();
  if (m.loss === null || !m.pair) return `layer ${layer}, ${K}: one head, nothing to merge`;
  return `layer ${layer}, ${K}: merging heads ${m.pair[0]} and ${m.pair[1]} into their mean loses ${pct(m.loss)} of the layer's ${K} output energy`;
}

export const RedundancyBars = forwardRef<SVGSVGElement, { layers: RedundancyLayer[]; total: number; caption: string[] }>(function RedundancyBars(
  { layers, total, caption },
  ref,
) {
  const margin = { top: 30 + caption.length * 16, right: 16, bottom: 40, left: 54 };
  const width = Math.max(560, margin.left + margin.right + total * 44);
  const height = 200 + margin.top;
  const x = scaleBand<number>()
    .domain(Array.from({ length: total }, (_, i) => i))
    .range([margin.left, width - margin.right])
    .padding(0.25);
  const inner = scaleBand<'k' | 'v'>().domain(['k', 'v']).range([0, x.bandwidth()]).padding(0.08);
  const max = Math.max(0.01, ...layers.flatMap((l) => [l.k.loss ?? 0, l.v.loss ?? 0]));
  const y = scaleLinear()
    .domain([0, max])
    .nice()
    .range([height - margin.bottom, margin.top]);
  const ticks = y.ticks(5);
  return (
    <ChartSvg ref={ref} width={width} height={height} label={`Redundancy per layer: ${caption.join('; ')}`} data-testid="redundancy-chart" caption={caption}>
      {ticks.map((t) => (
        <g key={t} fontSize={10} fill="#5c677d">
          <line x1={margin.left} x2={width - margin.right} y1={y(t)} y2={y(t)} stroke="#dde2ea" />
          <text x={margin.left - 6} y={y(t) + 3} textAnchor="end">
            {pct(t)}
          </text>
        </g>
      ))}
      <YTitle top={margin.top} bottom={height - margin.bottom}>
        energy lost
      </YTitle>
      {Array.from({ length: total }, (_, l) => (
        <text key={l} x={(x(l) ?? 0) + x.bandwidth() / 2} y={height - margin.bottom + 14} fontSize={10} fill="#5c677d" textAnchor="middle">
          {l}
        </text>
      ))}
      <text x={(margin.left + width - margin.right) / 2} y={height - 8} fontSize={10} fill="#5c677d" textAnchor="middle">
        layer
      </text>
      {layers.map((l) =>
        (['k', 'v'] as const).map((kind) => {
          const m = l[kind];
          const v = m.loss ?? 0;
          return (
            <rect
              key={`${l.layer}${kind}`}
              x={(x(l.layer) ?? 0) + (inner(kind) ?? 0)}
              y={y(v)}
              width={inner.bandwidth()}
              height={Math.max(0, y(0) - y(v))}
              fill={REDUNDANCY_COLOUR[kind]}
              data-testid="redundancy-bar"
              data-layer={l.layer}
              data-kind={kind}
              data-value={m.loss ?? ''}
            >
              <title>{redundancyTooltip(l.layer, kind, m)}</title>
            </rect>
          );
        }),
      )}
      <line x1={margin.left} x2={width - margin.right} y1={y(0)} y2={y(0)} stroke="#5c677d" />
      {(['k', 'v'] as const).map((kind, i) => (
        <g key={kind} transform={`translate(${width - margin.right - 150 + i * 78},${margin.top - 20})`} fontSize={11} fill="#1b263b">
          <rect width={10} height={10} fill={REDUNDANCY_COLOUR[kind]} />
          <text x={14} y={9}>
            {kind.toUpperCase()} heads
          </text>
        </g>
      ))}
    </ChartSvg>
  );
});
