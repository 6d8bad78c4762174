// The trade-off every fusion run explores: one point per run, its KV-cache bytes per token against its held-out perplexity,
// one colour per method, the original model as a dashed reference line (and point); hover a point for the run's settings
// and its total training tokens. The perplexity axis may be logarithmic (valueAxis.ts). D3 computes the scales; React owns
// the elements (presentation attributes only: exports as SVG/PNG).
import { forwardRef } from 'react';
import { scaleLinear } from 'd3';
import { formatValue } from './LineChart';
import { valueAxis } from './valueAxis';
import { ChartSvg, MUTED, XTitle, YTitle } from './ChartSvg';

export interface ParetoPoint {
  key: string;
  group: string;
  colour: string;
  x: number;
  y: number;
  label: string;
  /** The run's total training tokens (a conversion's own included), where known. */
  tokens?: number;
}

/** The plot's left and right margins (axis labels; air). */
const LEFT = 64;
const RIGHT = 20;

export const ParetoChart = forwardRef<
  SVGSVGElement,
  {
    points: ParetoPoint[];
    reference: { x: number; y: number; label: string } | null;
    caption: string[];
    groups: { name: string; colour: string }[];
    width?: number;
    logY?: boolean;
    /** The bytes axis' title (what the bytes are counted in). */
    xTitle?: string;
  }
>(function ParetoChart({ points, reference, caption, groups, width = 560, logY = false, xTitle = 'KV-cache bytes per token' }, ref) {
  const entries = [...groups, ...(reference ? [{ name: 'original', colour: '#000000' }] : [])];
  const legendTop = 12 + caption.length * 16;
  // The legend in rows across the plot's width: a dot, its name at about 6 px a character, a gap; a new row when one is full.
  const legend: { x: number; row: number }[] = [];
  for (const [i, g] of entries.entries()) {
    const prev = legend[i - 1];
    const x = prev ? prev.x + 14 + entries[i - 1].name.length * 6 + 16 : LEFT;
    legend.push(prev && x + 14 + g.name.length * 6 > width - RIGHT ? { x: LEFT, row: prev.row + 1 } : { x, row: prev?.row ?? 0 });
  }
  const rows = (legend.at(-1)?.row ?? 0) + 1;
  const margin = { top: legendTop + 22 + (rows - 1) * 16, right: RIGHT, bottom: 42, left: LEFT };
  const height = 260 + margin.top;
  const xs = [...points.map((p) => p.x), ...(reference ? [reference.x] : [])];
  const ys = [...points.map((p) => p.y), ...(reference ? [reference.y] : [])];
  const x = scaleLinear()
    .domain([0, Math.max(1, ...xs) * 1.05])
    .nice(6)
    .range([margin.left, width - margin.right]);
  const axis = valueAxis(ys, [height - margin.bottom, margin.top], { log: logY, zero: false, count: 6, format: formatValue });
  const y = axis.at;
  return (
    <ChartSvg
      ref={ref}
      width={width}
      height={height}
      label={`${caption.join('; ')}: ${points.length} runs`}
      data-testid="pareto-chart"
      data-y-scale={axis.log ? 'log' : 'linear'}
      caption={caption}
    >
      {axis.ticks.map((t) => (
        <g key={`y${t.value}`} fontSize={10} fill={MUTED}>
          <line x1={margin.left} x2={width - margin.right} y1={y(t.value)} y2={y(t.value)} stroke="#dde2ea" />
          {t.label && (
            <text x={margin.left - 6} y={y(t.value) + 3} textAnchor="end" data-testid="pareto-chart-ytick">
              {t.label}
            </text>
          )}
        </g>
      ))}
      {x.ticks(6).map((t) => (
        <text key={`x${t}`} x={x(t)} y={height - margin.bottom + 14} fontSize={10} fill={MUTED} textAnchor="middle">
          {t.toLocaleString('en')}
        </text>
      ))}
      <line x1={margin.left} x2={width - margin.right} y1={height - margin.bottom} y2={height - margin.bottom} stroke={MUTED} />
      <XTitle left={margin.left} right={width - margin.right} height={height}>
        {xTitle}
      </XTitle>
      <YTitle top={margin.top} bottom={height - margin.bottom}>
        {axis.log ? 'held-out perplexity (log scale)' : 'held-out perplexity'}
      </YTitle>
      {reference && (
        <g data-testid="pareto-reference">
          <line x1={margin.left} x2={width - margin.right} y1={y(reference.y)} y2={y(reference.y)} stroke="#000000" strokeDasharray="5 3" />
          <circle cx={x(reference.x)} cy={y(reference.y)} r={5} fill="#ffffff" stroke="#000000" strokeWidth={2}>
            <title>{reference.label}</title>
          </circle>
        </g>
      )}
      {points.map((p) => (
        <circle
          key={p.key}
          cx={x(p.x)}
          cy={y(p.y)}
          r={6}
          fill={p.colour}
          fillOpacity={0.85}
          stroke="#1b263b"
          strokeWidth={0.5}
          tabIndex={0}
          role="img"
          aria-label={p.label}
          data-testid="pareto-point"
          data-group={p.group}
          data-x={p.x}
          data-y={p.y}
          data-tokens={p.tokens}
        >
          <title>{p.label}</title>
        </circle>
      ))}
      {entries.map((g, i) => (
        <g key={g.name} transform={`translate(${legend[i].x},${legendTop + legend[i].row * 16})`} fontSize={11} fill="#1b263b" data-testid="pareto-legend">
          <circle cx={5} cy={5} r={5} fill={g.name === 'original' ? '#ffffff' : g.colour} stroke={g.colour} strokeWidth={g.name === 'original' ? 2 : 0} />
          <text x={14} y={9}>
            {g.name}
          </text>
        </g>
      ))}
    </ChartSvg>
  );
});
