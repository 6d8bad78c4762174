// One head-similarity matrix as a D3 heatmap: cells coloured on one [0, 1] scale, a native tooltip per cell (head pair and
// value), head labels. D3 computes the scale and colours; React owns the elements.
import { interpolateViridis, scaleSequential } from 'd3';

export const similarityColour = scaleSequential(interpolateViridis).domain([0, 1]);

export function Heatmap({ matrix, label, size = 150 }: { matrix: number[][]; label: string; size?: number }) {
  const n = matrix.length;
  const pad = 14;
  const cell = (size - pad) / n;
  return (
    <svg width={size} height={size} role="img" aria-label={label} data-testid="heatmap">
      {matrix.map((row, i) =>
        row.map((v, j) => (
          <rect key={`${i}-${j}`} x={pad + j * cell} y={pad + i * cell} width={cell} height={cell} fill={similarityColour(v)} data-testid="heatmap-cell">
            <title>{`${label}: heads ${i} and ${j}: ${v.toFixed(3)}`}</title>
          </rect>
        )),
      )}
      {n <= 16 &&
        matrix.map((_, i) => (
          <g key={i} fontSize={9} fill="#5c677d">
            <text x={pad + (i + 0.5) * cell} y={10} textAnchor="middle">{i}</text>
            <text x={7} y={pad + (i + 0.5) * cell + 3} textAnchor="middle">{i}</text>
          </g>
        ))}
    </svg>
  );
}

export function HeatmapLegend({ width = 220 }: { width?: number }) {
  const stops = Array.from({ length: 11 }, (_, i) => i / 10);
  return (
    <svg width={width} height={34} aria-label="Colour scale from 0 (unlike) to 1 (identical)" data-testid="heatmap-legend">
      <defs>
        <linearGradient id="sim-gradient">
          {stops.map((s) => (
            <stop key={s} offset={`${s * 100}%`} stopColor={similarityColour(s)} />
          ))}
        </linearGradient>
      </defs>
      <rect x={10} y={4} width={width - 20} height={12} fill="url(#sim-gradient)" />
      <text x={10} y={30} fontSize={10}>0 unlike</text>
      <text x={width - 10} y={30} fontSize={10} textAnchor="end">1 identical</text>
    </svg>
  );
}
