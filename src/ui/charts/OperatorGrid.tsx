// DHA's fusion operators Ω_K and Ω_V of every layer as small heatmaps (rows K and V, one column per layer), redrawn each
// training step. Row o of Ω is head o's mix of the layer's heads: the identity at step 0, then the rows of one group are
// pulled together until its heads are identical. One SVG, so that it exports whole.
import { forwardRef } from 'react';
import { interpolateRdBu, scaleDiverging } from 'd3';
import { Heatmap, SVG_FONT } from './Heatmap';

/** −1 red, 0 white, 1 blue (clamped). */
export const operatorColour = scaleDiverging(interpolateRdBu).domain([-1, 0, 1]).clamp(true);

export interface OperatorGridProps {
  operators: { k: number[][]; v: number[][] }[];
  caption: string[];
  size?: number;
  /** What the matrices are (default: the fusion operators Ω); the similarity view reuses the grid. */
  kind?: 'operators' | 'similarity';
}

const LEFT = 40;
const GAP = 12;

export const OperatorGrid = forwardRef<SVGSVGElement, OperatorGridProps>(function OperatorGrid({ operators, caption, size = 112, kind: what = 'operators' }, ref) {
  const sim = what === 'similarity';
  const name = (kind: 'k' | 'v') => (sim ? `${kind.toUpperCase()} similarity` : `Ω_${kind.toUpperCase()}`);
  const top = caption.length * 16 + 22;
  const width = Math.max(LEFT + operators.length * (size + GAP), 320);
  const legendY = top + 2 * (size + GAP);
  const height = legendY + 36;
  const steps = 20;
  return (
    <svg
      ref={ref}
      xmlns="http://www.w3.org/2000/svg"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      fontFamily={SVG_FONT}
      role="img"
      aria-label={`${sim ? 'Fused-head similarity' : 'Fusion operators'} of ${operators.length} layers: ${caption.join('; ')}`}
      data-testid={sim ? 'fusion-similarity' : 'fusion-operators'}
    >
      {caption.map((line, i) => (
        <text key={i} x={4} y={14 + i * 16} fontSize={i ? 11 : 12} fill={i ? '#5c677d' : '#1b263b'}>
          {line}
        </text>
      ))}
      {operators.map((_, l) => (
        <text key={l} x={LEFT + l * (size + GAP) + size / 2} y={top - 4} fontSize={11} fill="#5c677d" textAnchor="middle">
          layer {l}
        </text>
      ))}
      {(['k', 'v'] as const).map((kind, r) => (
        <g key={kind}>
          <text x={4} y={top + r * (size + GAP) + size / 2} fontSize={11} fill="#5c677d">
            {sim ? kind.toUpperCase() : `Ω_${kind.toUpperCase()}`}
          </text>
          {operators.map((o, l) => (
            <Heatmap
              key={l}
              matrix={o[kind]}
              label={`layer ${l}, ${name(kind)}`}
              size={size}
              x={LEFT + l * (size + GAP)}
              y={top + r * (size + GAP)}
              colour={operatorColour}
              tooltip={(i, j, v) =>
                sim
                  ? `layer ${l}, fused ${kind.toUpperCase()} heads ${i} and ${j}: output similarity ${v.toFixed(3)}`
                  : `layer ${l}, Ω_${kind.toUpperCase()}[${i}, ${j}] = ${v.toFixed(3)}: head ${i} takes ${v.toFixed(3)} × head ${j}`
              }
            />
          ))}
        </g>
      ))}
      <g transform={`translate(${LEFT},${legendY})`} fontSize={10} fill="#5c677d">
        {Array.from({ length: steps }, (_, i) => (
          <rect key={i} x={i * 10} y={0} width={10.5} height={10} fill={operatorColour(-1 + (2 * (i + 0.5)) / steps)} />
        ))}
        <text x={0} y={24}>−1</text>
        <text x={100} y={24} textAnchor="middle">0</text>
        <text x={200} y={24} textAnchor="end">1</text>
        <text x={212} y={9}>
          {sim ? 'cosine of fused heads’ outputs; 1 = identical' : 'Ω[o, i]: weight of head i in head o (identity at step 0)'}
        </text>
      </g>
    </svg>
  );
});
