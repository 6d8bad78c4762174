// Heads kept per layer, K and V side by side (as in the DHA paper's Fig. 4): layers on x, heads kept on y, a faint bar behind
// each for the heads the layer had. D3 owns the bars and moves them with transitions, so that DHA's budget path (from every
// head down to the target) plays as an animation; the frame (axes, caption, legend) is React's. Presentation attributes
// only, so that a serialised view is a complete SVG file.
import { forwardRef, useEffect, useImperativeHandle, useRef } from 'react';
import { scaleBand, scaleLinear, select, transition } from 'd3';
import { REDUNDANCY_COLOUR } from './RedundancyBars';
import { ChartSvg, MUTED, XTitle, YTitle } from './ChartSvg';

export type HeadCounts = { k: number; v: number }[];

interface Datum {
  layer: number;
  kind: 'k' | 'v';
  kept: number;
  of: number;
}

export interface BudgetBarsProps {
  /** Heads per layer of the original model. */
  heads: HeadCounts;
  /** Heads kept per layer (null: nothing decided yet). */
  perLayer: HeadCounts | null;
  caption: string[];
  /** Transition length in ms. */
  duration?: number;
}

export const BudgetBars = forwardRef<SVGSVGElement, BudgetBarsProps>(function BudgetBars({ heads, perLayer, caption, duration = 120 }, ref) {
  const svgRef = useRef<SVGSVGElement>(null);
  const barsRef = useRef<SVGGElement>(null);
  useImperativeHandle(ref, () => svgRef.current!, []);
  const L = heads.length;
  const margin = { top: 44 + caption.length * 16, right: 16, bottom: 40, left: 48 };
  const width = Math.max(560, margin.left + margin.right + L * 44);
  const height = 200 + margin.top;
  const maxHeads = Math.max(1, ...heads.flatMap((h) => [h.k, h.v]));
  const x = scaleBand<number>()
    .domain(Array.from({ length: L }, (_, i) => i))
    .range([margin.left, width - margin.right])
    .padding(0.25);
  const inner = scaleBand<'k' | 'v'>().domain(['k', 'v']).range([0, x.bandwidth()]).padding(0.08);
  const y = scaleLinear()
    .domain([0, maxHeads])
    .range([height - margin.bottom, margin.top]);
  const ticks = y.ticks(Math.min(maxHeads, 8)).filter((t) => Number.isInteger(t));
  const data: Datum[] = (perLayer ?? []).flatMap((p, l) => (['k', 'v'] as const).map((kind) => ({ layer: l, kind, kept: p[kind], of: heads[l]?.[kind] ?? 0 })));
  const key = (d: Datum) => `${d.layer}${d.kind}`;
  const bx = (d: Datum) => (x(d.layer) ?? 0) + (inner(d.kind) ?? 0);

  useEffect(() => {
    // One transition for bars and labels (importing `transition` also keeps d3-transition, which adds selection.transition).
    const t = transition().duration(duration);
    const g = select(barsRef.current);
    const bars = g
      .selectAll<SVGRectElement, Datum>('rect')
      .data(data, key)
      .join((enter) => {
        const r = enter.append('rect').attr('data-testid', 'fusion-budget-bar').attr('y', y(0)).attr('height', 0);
        r.append('title');
        return r;
      })
      .attr('x', bx)
      .attr('width', inner.bandwidth())
      .attr('fill', (d) => REDUNDANCY_COLOUR[d.kind])
      .attr('data-layer', (d) => d.layer)
      .attr('data-kind', (d) => d.kind)
      .attr('data-heads', (d) => d.kept);
    bars.select('title').text((d) => `layer ${d.layer}: ${d.kept} of ${d.of} ${d.kind.toUpperCase()} heads kept`);
    bars
      .transition(t)
      .attr('y', (d) => y(d.kept))
      .attr('height', (d) => Math.max(0, y(0) - y(d.kept)));
    const labels = g
      .selectAll<SVGTextElement, Datum>('text')
      .data(data, key)
      .join((enter) => enter.append('text').attr('y', y(0) - 3))
      .attr('x', (d) => bx(d) + inner.bandwidth() / 2)
      .attr('text-anchor', 'middle')
      .attr('font-size', 10)
      .attr('fill', '#1b263b')
      .attr('pointer-events', 'none')
      .text((d) => d.kept);
    labels.transition(t).attr('y', (d) => y(d.kept) - 3);
  });

  return (
    <ChartSvg
      ref={svgRef}
      width={width}
      height={height}
      label={`Heads kept per layer: ${caption.join('; ')}${perLayer ? `; K/V per layer ${perLayer.map((p) => `${p.k}/${p.v}`).join(' ')}` : ''}`}
      data-testid="fusion-budget-chart"
      caption={caption}
      captionTestId="fusion-budget-caption"
    >
      {ticks.map((t) => (
        <g key={t} fontSize={10} fill={MUTED}>
          <line x1={margin.left} x2={width - margin.right} y1={y(t)} y2={y(t)} stroke="#dde2ea" />
          <text x={margin.left - 6} y={y(t) + 3} textAnchor="end">
            {t}
          </text>
        </g>
      ))}
      <YTitle top={margin.top} bottom={height - margin.bottom}>
        heads kept
      </YTitle>
      {heads.map((h, l) =>
        (['k', 'v'] as const).map((kind) => (
          <rect
            key={`${l}${kind}`}
            x={(x(l) ?? 0) + (inner(kind) ?? 0)}
            y={y(h[kind])}
            width={inner.bandwidth()}
            height={Math.max(0, y(0) - y(h[kind]))}
            fill="none"
            stroke="#c6ccd6"
            strokeDasharray="3 2"
          />
        )),
      )}
      <g ref={barsRef} />
      {heads.map((_, l) => (
        <text key={l} x={(x(l) ?? 0) + x.bandwidth() / 2} y={height - margin.bottom + 14} fontSize={10} fill={MUTED} textAnchor="middle">
          {l}
        </text>
      ))}
      <XTitle left={margin.left} right={width - margin.right} height={height}>
        layer
      </XTitle>
      <line x1={margin.left} x2={width - margin.right} y1={y(0)} y2={y(0)} stroke={MUTED} />
      {(['k', 'v'] as const).map((kind, i) => (
        <g key={kind} transform={`translate(${width - margin.right - 250 + i * 78},${margin.top - 28})`} fontSize={11} fill="#1b263b">
          <rect width={10} height={10} fill={REDUNDANCY_COLOUR[kind]} />
          <text x={14} y={9}>
            {kind.toUpperCase()} heads
          </text>
        </g>
      ))}
      <g transform={`translate(${width - margin.right - 94},${margin.top - 28})`} fontSize={11} fill="#1b263b">
        <rect width={10} height={10} fill="none" stroke="#c6ccd6" strokeDasharray="3 2" />
        <text x={14} y={9}>
          original
        </text>
      </g>
    </ChartSvg>
  );
});
