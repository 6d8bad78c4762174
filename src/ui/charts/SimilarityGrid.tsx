// The grid of heatmaps, layers × {K, V} (and Q for teaching), as one SVG so that it exports whole: a caption, column heads,
// one row per layer as results arrive, and the colour legend.
import { forwardRef } from 'react';
import { Heatmap, HeatmapLegend } from './Heatmap';
import { ChartSvg } from './ChartSvg';

export type Kind = 'q' | 'k' | 'v';

export const KIND_TITLE: Record<Kind, string> = { k: 'K heads', v: 'V heads', q: 'Q heads (for teaching)' };

export interface GridLayer {
  layer: number;
  q: number[][];
  k: number[][];
  v: number[][];
}

export interface SimilarityGridProps {
  layers: GridLayer[];
  kinds: Kind[];
  /** Display order of each heatmap's heads; undefined keeps the original order. */
  orderOf: (layer: number, kind: Kind) => number[] | undefined;
  /** Lines of text above the grid (metric, model, tokens, order), so that an exported picture says what it shows. */
  caption: string[];
  onOpen: (layer: number, kind: Kind) => void;
  size?: number;
}

const LEFT = 56;
const GAP = 14;

export const SimilarityGrid = forwardRef<SVGSVGElement, SimilarityGridProps>(function SimilarityGrid(
  { layers, kinds, orderOf, caption, onOpen, size = 150 },
  ref,
) {
  const TOP = caption.length * 16 + 30;
  const width = Math.max(LEFT + kinds.length * (size + GAP), 300);
  const legendY = TOP + layers.length * (size + GAP);
  const height = legendY + 40;
  return (
    <ChartSvg
      ref={ref}
      width={width}
      height={height}
      role="group"
      label={`Head similarity heatmaps: ${caption.join('; ')}`}
      data-testid="heatmap-grid"
      caption={caption}
    >
      {kinds.map((k, c) => (
        <text key={k} x={LEFT + c * (size + GAP) + size / 2} y={TOP - 8} fontSize={12} fill="#5c677d" textAnchor="middle">
          {KIND_TITLE[k]}
        </text>
      ))}
      {layers.map((l, r) => (
        <g key={l.layer} data-testid="heatmap-row" data-layer={l.layer}>
          <text x={LEFT - 12} y={TOP + r * (size + GAP) + size / 2 + 4} fontSize={12} fill="#5c677d" textAnchor="end">
            {`layer ${l.layer}`}
          </text>
          {kinds.map((k, c) => (
            <Heatmap
              key={k}
              matrix={l[k]}
              order={orderOf(l.layer, k)}
              label={`layer ${l.layer}, ${k.toUpperCase()}`}
              size={size}
              x={LEFT + c * (size + GAP)}
              y={TOP + r * (size + GAP)}
              onOpen={() => onOpen(l.layer, k)}
            />
          ))}
        </g>
      ))}
      <HeatmapLegend x={LEFT - 10} y={legendY} width={Math.min(260, width - LEFT)} />
    </ChartSvg>
  );
});
