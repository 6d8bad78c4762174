// One head-similarity matrix as a D3 heatmap: cells coloured on one [0, 1] scale, a native tooltip per cell naming the
// original head pair and the value, head labels in the displayed order. D3 computes the scale and colours; React owns the
// elements. Everything is drawn with presentation attributes (no CSS), so that a serialised view is a complete SVG file.
import { useState, type KeyboardEvent } from 'react';
import { interpolateViridis, scaleSequential } from 'd3';
import { MUTED, SVG_FONT } from './ChartSvg';

export const similarityColour = scaleSequential(interpolateViridis).domain([0, 1]);

export interface HeatmapProps {
  /** The matrix in the original head order. */
  matrix: number[][];
  /** Display order: row/column r shows head order[r]. Default: the original order. */
  order?: number[];
  /** e.g. "layer 0, K" — starts every cell's tooltip. */
  label: string;
  size?: number;
  x?: number;
  y?: number;
  /** Large form: "head i" axis labels on both axes, axis titles, and the values in the cells when they fit. */
  detailed?: boolean;
  /** Makes the heatmap a button (click, Enter or Space) that opens it large. */
  onOpen?: () => void;
  /** Cell colour (default: the similarity scale on [0, 1]). */
  colour?: (v: number) => string;
  /** Cell tooltip (default: "label: heads i and j: value"). */
  tooltip?: (i: number, j: number, v: number) => string;
}

export function Heatmap({ matrix, order, label, size = 150, x, y, detailed = false, onOpen, colour = similarityColour, tooltip }: HeatmapProps) {
  const [focused, setFocused] = useState(false);
  const n = matrix.length;
  const ord = order ?? matrix.map((_, i) => i);
  const pad = detailed ? 58 : 14;
  const cell = (size - pad - (detailed ? 4 : 0)) / Math.max(n, 1);
  const fontSize = detailed ? Math.max(8, Math.min(13, cell * 0.4)) : 9;
  const showValues = detailed && cell >= 30;
  const keyDown = (e: KeyboardEvent<SVGSVGElement>) => {
    if (onOpen && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      onOpen();
    }
  };
  return (
    <svg
      x={x}
      y={y}
      width={size}
      height={size}
      role={onOpen ? 'button' : 'img'}
      aria-label={onOpen ? `${label} heads: open large` : `${label} heads`}
      tabIndex={onOpen ? 0 : undefined}
      onClick={onOpen}
      onKeyDown={keyDown}
      onFocus={() => setFocused(true)}
      onBlur={() => setFocused(false)}
      style={onOpen ? { cursor: 'zoom-in' } : undefined}
      data-testid="heatmap"
      data-label={label}
      data-order={ord.join(',')}
    >
      {ord.map((i, r) =>
        ord.map((j, c) => {
          const v = matrix[i][j];
          return (
            <rect key={`${r}-${c}`} x={pad + c * cell} y={pad + r * cell} width={cell} height={cell} fill={colour(v)} data-testid="heatmap-cell">
              <title>{tooltip ? tooltip(i, j, v) : `${label}: heads ${i} and ${j}: ${v.toFixed(3)}`}</title>
            </rect>
          );
        }),
      )}
      {showValues &&
        ord.map((i, r) =>
          ord.map((j, c) => (
            <text
              key={`v${r}-${c}`}
              x={pad + (c + 0.5) * cell}
              y={pad + (r + 0.5) * cell + fontSize * 0.35}
              fontSize={fontSize * 0.85}
              textAnchor="middle"
              fill={matrix[i][j] > 0.6 ? '#1b263b' : '#ffffff'}
              pointerEvents="none"
            >
              {matrix[i][j].toFixed(2)}
            </text>
          )),
        )}
      {(detailed || n <= 16) &&
        ord.map((h, r) => (
          <g key={`l${r}`} fontSize={fontSize} fill={MUTED} fontFamily={SVG_FONT}>
            <text x={pad + (r + 0.5) * cell} y={pad - (detailed ? 6 : 4)} textAnchor="middle">
              {detailed ? `${h}` : h}
            </text>
            <text x={pad - (detailed ? 6 : 7)} y={pad + (r + 0.5) * cell + fontSize * 0.35} textAnchor={detailed ? 'end' : 'middle'}>
              {h}
            </text>
          </g>
        ))}
      {detailed && (
        <g fontSize={12} fill={MUTED} fontFamily={SVG_FONT}>
          <text x={pad + (n * cell) / 2} y={14} textAnchor="middle">
            head
          </text>
          <text x={14} y={pad + (n * cell) / 2} textAnchor="middle" transform={`rotate(-90 14 ${pad + (n * cell) / 2})`}>
            head
          </text>
        </g>
      )}
      {focused && onOpen && <rect x={1.5} y={1.5} width={size - 3} height={size - 3} fill="none" stroke="#f4a261" strokeWidth={3} data-no-export="" />}
    </svg>
  );
}

/** The colour scale as a <g> (discrete steps, so that it needs no gradient id and survives export). */
export function HeatmapLegend({ x = 0, y = 0, width = 220 }: { x?: number; y?: number; width?: number }) {
  const steps = 40;
  const w = (width - 20) / steps;
  return (
    <g transform={`translate(${x},${y})`} fontFamily={SVG_FONT} data-testid="heatmap-legend">
      {Array.from({ length: steps }, (_, i) => (
        <rect key={i} x={10 + i * w} y={4} width={w + 0.5} height={12} fill={similarityColour((i + 0.5) / steps)} />
      ))}
      <text x={10} y={30} fontSize={10} fill={MUTED}>
        0 unlike
      </text>
      <text x={width / 2} y={30} fontSize={10} fill={MUTED} textAnchor="middle">
        0.5
      </text>
      <text x={width - 10} y={30} fontSize={10} fill={MUTED} textAnchor="end">
        1 identical
      </text>
    </g>
  );
}
