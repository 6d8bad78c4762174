// Curves over training steps (loss, fusion loss, constraint) as a D3 line chart: D3 computes the scales and the path
// geometry, React owns the elements. The x axis spans every planned step from the start, so the curves grow as steps
// arrive; an optional marker separates phases (fusion | recovery). The value axis may be logarithmic (perplexities, see
// valueAxis.ts); a series may be dashed in its own pattern (the race's DHA lanes). Presentation attributes only (exports as
// SVG/PNG).
import { forwardRef } from 'react';
import { area, format, line, scaleLinear } from 'd3';
import { valueAxis } from './valueAxis';
import { ChartSvg, MUTED, XTitle, YTitle } from './ChartSvg';

export interface Series {
  key: string;
  label: string;
  colour: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
  /** An SVG dash pattern ("7 3"), for a series told apart from another of the same colour. */
  dash?: string;
  /** A band around the line (the lowest and highest over seeds), drawn faintly in the series' colour. */
  band?: { x: number; lo: number; hi: number }[];
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
  /** A logarithmic value axis (positive values only). */
  logY?: boolean;
}

const small = format('.1e');
const plain = format('.3~g');

/** Tick and tooltip numbers: plain when readable, exponent notation for small values. */
export function formatValue(v: number): string {
  return v === 0 || (Math.abs(v) >= 0.01 && Math.abs(v) < 1e5) ? plain(v) : small(v);
}

export const LineChart = forwardRef<SVGSVGElement, LineChartProps>(function LineChart(
  { series, xMax, xLabel, yLabel, caption, marker, testId, width = 520, logY = false },
  ref,
) {
  // The legend wraps onto more rows when its entries (as wide as the longest label, about 6 px a letter) do not fit in one.
  const plotWidth = width - 16 - 62;
  const entry = Math.min(170, Math.max(100, 32 + 6.2 * Math.max(0, ...series.map((s) => s.label.length))));
  const perRow = Math.max(1, Math.min(series.length, Math.floor(plotWidth / entry)));
  const legendRows = Math.max(1, Math.ceil(series.length / perRow));
  const legendStep = Math.max(entry, Math.min(150, plotWidth / perRow));
  const legendTop = 12 + caption.length * 16;
  const margin = { top: legendTop + 22 + (legendRows - 1) * 16, right: 16, bottom: 40, left: 62 };
  const height = 190 + margin.top;
  const all = series.flatMap((s) => [...s.points.map((p) => p.y), ...(s.band ?? []).flatMap((b) => [b.lo, b.hi])]);
  const x = scaleLinear()
    .domain([0, Math.max(1, xMax)])
    .range([margin.left, width - margin.right]);
  const axis = valueAxis(all, [height - margin.bottom, margin.top], { log: logY, zero: true, count: 5, format: formatValue });
  const y = axis.at;
  const path = line<{ x: number; y: number }>()
    .defined((p) => Number.isFinite(y(p.y)))
    .x((p) => x(p.x))
    .y((p) => y(p.y));
  const bandPath = area<{ x: number; lo: number; hi: number }>()
    .defined((p) => Number.isFinite(y(p.lo)) && Number.isFinite(y(p.hi)))
    .x((p) => x(p.x))
    .y0((p) => y(p.lo))
    .y1((p) => y(p.hi));
  const xTicks = x.ticks(Math.min(10, Math.max(1, xMax))).filter((t) => Number.isInteger(t));
  const dashOf = (s: Series) => s.dash ?? (s.dashed ? '5 3' : undefined);
  return (
    <ChartSvg
      ref={ref}
      width={width}
      height={height}
      label={`${caption.join('; ')}: ${series.map((s) => `${s.label}, ${s.points.length} steps`).join('; ')}`}
      data-testid={testId}
      data-y-scale={axis.log ? 'log' : 'linear'}
      caption={caption}
    >
      {axis.ticks.map((t) => (
        <g key={t.value} fontSize={10} fill={MUTED}>
          <line x1={margin.left} x2={width - margin.right} y1={y(t.value)} y2={y(t.value)} stroke={t.value === 0 ? '#9aa3b2' : '#dde2ea'} />
          {t.label && (
            <text x={margin.left - 6} y={y(t.value) + 3} textAnchor="end" data-testid={`${testId}-ytick`}>
              {t.label}
            </text>
          )}
        </g>
      ))}
      {xTicks.map((t) => (
        <text key={t} x={x(t)} y={height - margin.bottom + 14} fontSize={10} fill={MUTED} textAnchor="middle">
          {t.toLocaleString('en')}
        </text>
      ))}
      <line x1={margin.left} x2={width - margin.right} y1={height - margin.bottom} y2={height - margin.bottom} stroke={MUTED} />
      <XTitle left={margin.left} right={width - margin.right} height={height}>
        {xLabel}
      </XTitle>
      <YTitle top={margin.top} bottom={height - margin.bottom}>
        {axis.log ? `${yLabel} (log scale)` : yLabel}
      </YTitle>
      {marker && (
        <g fontSize={10} fill={MUTED}>
          <line x1={x(marker.x)} x2={x(marker.x)} y1={margin.top} y2={height - margin.bottom} stroke="#9aa3b2" strokeDasharray="4 3" />
          <text x={x(marker.x) + 4} y={margin.top + 10}>
            {marker.label}
          </text>
        </g>
      )}
      {series.map((s) => (
        <g key={s.key}>
          {s.band && s.band.length > 1 && (
            <path d={bandPath(s.band) ?? ''} fill={s.colour} fillOpacity={0.15} stroke="none" data-testid={`${testId}-band`} data-series={s.key} />
          )}
          <path
            d={path(s.points) ?? ''}
            fill="none"
            stroke={s.colour}
            strokeWidth={2}
            strokeDasharray={dashOf(s)}
            data-testid={`${testId}-line`}
            data-series={s.key}
            data-points={s.points.length}
          />
          {s.points.length <= 80 &&
            // A value the axis cannot show sits on its zero line (linear) or is left out (log); its tooltip says which.
            s.points
              .filter((p) => Number.isFinite(y(p.y)) || !axis.log)
              .map((p) => (
                <circle key={p.x} cx={x(p.x)} cy={Number.isFinite(y(p.y)) ? y(p.y) : y(0)} r={2.5} fill={s.colour}>
                  <title>{`${s.label}, ${xLabel} ${p.x.toLocaleString('en')}: ${formatValue(p.y)}`}</title>
                </circle>
              ))}
        </g>
      ))}
      {series.map((s, i) => (
        <g
          key={`legend-${s.key}`}
          transform={`translate(${margin.left + (i % perRow) * legendStep},${legendTop + Math.floor(i / perRow) * 16})`}
          fontSize={11}
          fill="#1b263b"
        >
          <line x1={0} x2={22} y1={5} y2={5} stroke={s.colour} strokeWidth={2} strokeDasharray={dashOf(s)} />
          <text x={26} y={9}>
            {s.label}
          </text>
        </g>
      ))}
    </ChartSvg>
  );
});
