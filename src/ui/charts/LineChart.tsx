// Curves over training steps (loss, fusion loss, constraint) as a D3 line chart: D3 computes the scales and the path
// geometry, React owns the elements. The x axis spans every planned step from the start, so the curves grow as steps
// arrive; an optional marker separates phases (fusion | recovery). Presentation attributes only (exports as SVG/PNG).
import { forwardRef } from 'react';
import { format, line, scaleLinear } from 'd3';
import { SVG_FONT } from './Heatmap';

export interface Series {
  key: string;
  label: string;
  colour: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
}

export interface LineChartProps {
  series: Series[];
  /** Last step on the x axis. */
  xMax: number;
  xLabel: string;
  yLabel: string;
  caption: string[];
  /** A vertical line between phases, at x. */
  marker?: { x: number; label: string };
  testId: string;
  width?: number;
}

const MUTED = '#5c677d';
const small = format('.1e');
const plain = format('.3~g');

/** Tick and tooltip numbers: plain when readable, exponent notation for small values. */
export function formatValue(v: number): string {
  return v === 0 || (Math.abs(v) >= 0.01 && Math.abs(v) < 1e5) ? plain(v) : small(v);
}

export const LineChart = forwardRef<SVGSVGElement, LineChartProps>(function LineChart(
  { series, xMax, xLabel, yLabel, caption, marker, testId, width = 520 },
  ref,
) {
  const margin = { top: 34 + caption.length * 16, right: 16, bottom: 40, left: 62 };
  const height = 190 + margin.top;
  const all = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
  const lo = Math.min(0, ...all);
  const hi = Math.max(lo + 1e-12, ...all);
  const x = scaleLinear().domain([0, Math.max(1, xMax)]).range([margin.left, width - margin.right]);
  const y = scaleLinear().domain([lo, hi]).nice(5).range([height - margin.bottom, margin.top]);
  const path = line<{ x: number; y: number }>()
    .defined((p) => Number.isFinite(p.y))
    .x((p) => x(p.x))
    .y((p) => y(p.y));
  const xTicks = x.ticks(Math.min(10, Math.max(1, xMax))).filter((t) => Number.isInteger(t));
  const legendStep = Math.min(150, (width - margin.left - margin.right) / Math.max(1, series.length));
  return (
    <svg
      ref={ref}
      xmlns="http://www.w3.org/2000/svg"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      fontFamily={SVG_FONT}
      role="img"
      aria-label={`${caption.join('; ')}: ${series.map((s) => `${s.label}, ${s.points.length} steps`).join('; ')}`}
      data-testid={testId}
    >
      {caption.map((text, i) => (
        <text key={i} x={4} y={14 + i * 16} fontSize={i ? 11 : 12} fill={i ? MUTED : '#1b263b'}>
          {text}
        </text>
      ))}
      {y.ticks(5).map((t) => (
        <g key={t} fontSize={10} fill={MUTED}>
          <line x1={margin.left} x2={width - margin.right} y1={y(t)} y2={y(t)} stroke={t === 0 ? '#9aa3b2' : '#dde2ea'} />
          <text x={margin.left - 6} y={y(t) + 3} textAnchor="end">{formatValue(t)}</text>
        </g>
      ))}
      {xTicks.map((t) => (
        <text key={t} x={x(t)} y={height - margin.bottom + 14} fontSize={10} fill={MUTED} textAnchor="middle">
          {t.toLocaleString('en')}
        </text>
      ))}
      <line x1={margin.left} x2={width - margin.right} y1={height - margin.bottom} y2={height - margin.bottom} stroke={MUTED} />
      <text x={(margin.left + width - margin.right) / 2} y={height - 8} fontSize={10} fill={MUTED} textAnchor="middle">
        {xLabel}
      </text>
      <text
        x={12}
        y={(margin.top + height - margin.bottom) / 2}
        fontSize={10}
        fill={MUTED}
        textAnchor="middle"
        transform={`rotate(-90 12 ${(margin.top + height - margin.bottom) / 2})`}
      >
        {yLabel}
      </text>
      {marker && (
        <g fontSize={10} fill={MUTED}>
          <line x1={x(marker.x)} x2={x(marker.x)} y1={margin.top} y2={height - margin.bottom} stroke="#9aa3b2" strokeDasharray="4 3" />
          <text x={x(marker.x) + 4} y={margin.top + 10}>{marker.label}</text>
        </g>
      )}
      {series.map((s) => (
        <g key={s.key}>
          <path
            d={path(s.points) ?? ''}
            fill="none"
            stroke={s.colour}
            strokeWidth={2}
            strokeDasharray={s.dashed ? '5 3' : undefined}
            data-testid={`${testId}-line`}
            data-series={s.key}
            data-points={s.points.length}
          />
          {s.points.length <= 80 &&
            s.points.map((p) => (
              <circle key={p.x} cx={x(p.x)} cy={Number.isFinite(p.y) ? y(p.y) : y(0)} r={2.5} fill={s.colour}>
                <title>{`${s.label}, ${xLabel} ${p.x.toLocaleString('en')}: ${formatValue(p.y)}`}</title>
              </circle>
            ))}
        </g>
      ))}
      {series.map((s, i) => (
        <g key={`legend-${s.key}`} transform={`translate(${margin.left + i * legendStep},${margin.top - 22})`} fontSize={11} fill="#1b263b">
          <line x1={0} x2={16} y1={5} y2={5} stroke={s.colour} strokeWidth={2} strokeDasharray={s.dashed ? '5 3' : undefined} />
          <text x={20} y={9}>{s.label}</text>
        </g>
      ))}
    </svg>
  );
});
