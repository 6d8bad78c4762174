// One query head's attention over a prompt: row t (a query position) shows how much it reads each earlier position j,
// P[t][j] (the row sums to 1). Token pieces label both axes; a native tooltip names the pair and the probability.
import { forwardRef } from 'react';
import { interpolateBlues, scaleSequential } from 'd3';
import { ChartSvg, MUTED } from './ChartSvg';

const colour = scaleSequential(interpolateBlues).domain([0, 1]);

/** A token for an axis label: spaces made visible, escapes for control characters, at most 8 characters. */
const show = (piece: string) => JSON.stringify(piece.replace(/ /g, '␣')).slice(1, -1).slice(0, 8);

export const AttentionMap = forwardRef<SVGSVGElement, { tokens: string[]; probs: number[][]; caption: string[]; testId: string; size?: number }>(
  function AttentionMap({ tokens, probs, caption, testId, size = 330 }, ref) {
    const T = tokens.length;
    const pad = 56;
    const top = 10 + caption.length * 16;
    const cell = (size - pad) / Math.max(T, 1);
    const font = Math.max(6, Math.min(10, cell * 0.9));
    return (
      <ChartSvg ref={ref} width={size + 8} height={size + top + 8} label={caption.join('; ')} data-testid={testId} captionTop={12} caption={caption}>
        <g transform={`translate(${pad}, ${top + pad})`}>
          {probs.map((row, t) =>
            row.map((p, j) => (
              <rect key={`${t}-${j}`} x={j * cell} y={t * cell} width={cell} height={cell} fill={colour(p)} data-testid="attention-cell">
                <title>{`query ${t} “${tokens[t]}” reads key ${j} “${tokens[j]}”: ${p.toFixed(3)}`}</title>
              </rect>
            )),
          )}
          {cell >= 5 &&
            tokens.map((tok, i) => (
              <g key={i} fontSize={font} fill={MUTED}>
                <text x={-4} y={i * cell + cell * 0.75} textAnchor="end">
                  {show(tok)}
                </text>
                <text transform={`translate(${i * cell + cell * 0.7}, -4) rotate(-60)`}>{show(tok)}</text>
              </g>
            ))}
        </g>
      </ChartSvg>
    );
  },
);
