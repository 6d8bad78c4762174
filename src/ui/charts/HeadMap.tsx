// The head layout of a model, drawn from its own maps (the DHA paper's picture): per layer, the query heads in a row and below
// them its K heads and its V heads, with a line from every query head to the K head and to the V head it reads. MHA is one
// line straight down per head, GQA fans several query heads into one KV head, and DHA's decoupled K and V maps differ. A
// latent (MLA) layer caches no K or V heads: below its query heads, each K head's few rotary key dims, and one latent block
// that every query head reads (HeadMapLatent.tsx).
// Hovering (or focusing) a K or V head highlights the query heads that share it and names the original heads merged into it.
// D3 computes the positions; React owns the elements, with presentation attributes only (exports as SVG/PNG).
import { forwardRef, useState } from 'react';
import { scaleBand } from 'd3';
import type { HeadLayout } from '../../model/heads';
import { LatentLayer } from './HeadMapLatent';
import { K_COLOUR, LATENT_COLOUR, Q_COLOUR, V_COLOUR, type HeadHover } from './headColours';
import { ChartSvg } from './ChartSvg';
import { HeadLinks } from './HeadLinks';

/** Legend entries of the drawn layers' parts, each with its swatch shape. */
function legendOf(layouts: HeadLayout[]): { text: string; colour: string; round: boolean }[] {
  const heads = layouts.some((l) => !l.latent);
  const latent = layouts.some((l) => l.latent);
  return [
    { text: 'query heads', colour: Q_COLOUR, round: false },
    ...(heads
      ? [
          { text: 'K heads', colour: K_COLOUR, round: true },
          { text: 'V heads', colour: V_COLOUR, round: true },
        ]
      : []),
    ...(latent
      ? [
          { text: 'rotary dims per K head', colour: K_COLOUR, round: false },
          { text: 'shared latent', colour: LATENT_COLOUR, round: false },
        ]
      : []),
  ];
}

export interface HeadMapProps {
  layouts: HeadLayout[];
  caption: string[];
  /** e.g. "loaded", "result": the view's name in data-model. */
  kind: string;
  width?: number;
}

const ROW = 26;
const LAYER_H = 3 * ROW + 26;

export const HeadMap = forwardRef<SVGSVGElement, HeadMapProps>(function HeadMap({ layouts, caption, kind, width = 620 }, ref) {
  const [hover, setHover] = useState<HeadHover>(null);
  const top = 12 + caption.length * 16 + 20;
  const left = 64;
  const height = top + layouts.length * LAYER_H + 8;
  const H = layouts[0]?.kHeadOf.length ?? 0;
  const x = scaleBand<number>()
    .domain(Array.from({ length: H }, (_, h) => h))
    .range([left, width - 12])
    .padding(0.25);
  const box = Math.min(x.bandwidth(), 22);
  const legend = legendOf(layouts);
  // each entry: swatch, gap, its text at about 5.6 px a character (11 px type), a gap
  const legendX = legend.reduce((xs, e) => [...xs, xs[xs.length - 1] + 14 + e.text.length * 5.6 + 12], [0]);
  const headX = (count: number, i: number) => {
    // KV heads spread under the query heads they serve: centred in the span of the band.
    const span = (width - 12 - left) / Math.max(count, 1);
    return left + span * (i + 0.5) - box / 2;
  };
  return (
    <ChartSvg ref={ref} width={width} height={height} label={caption.join('; ')} data-testid="head-map" data-model={kind} caption={caption}>
      <g fontSize={11} transform={`translate(${left}, ${top - 10})`}>
        {legend.map((e, i) => (
          <g key={e.text} transform={`translate(${legendX[i]}, 0)`}>
            <rect width={10} height={10} y={-9} rx={e.round ? 5 : 0} fill={e.colour} />
            <text x={14}>{e.text}</text>
          </g>
        ))}
        <text x={legendX[legend.length]}>— hover a head for who reads it{layouts.some((l) => !l.latent) ? ' and what merged into it' : ''}</text>
      </g>
      {layouts.map((l, li) => {
        const y0 = top + li * LAYER_H;
        const qY = y0 + 4;
        const kY = y0 + 4 + ROW + 10;
        const vY = kY + ROW;
        const qx = (h: number) => (x(h) ?? 0) + x.bandwidth() / 2 - box / 2;
        if (l.latent)
          return (
            <LatentLayer
              key={li}
              layout={l}
              latent={l.latent}
              index={li}
              rows={{ q: qY, k: kY, latent: vY }}
              left={left}
              right={width - 12}
              box={box}
              qx={qx}
              headX={headX}
              hover={hover}
              setHover={setHover}
            />
          );
        const active = hover?.layer === li ? hover : null;
        const reads = (h: number) => active && (active.kind === 'k' ? l.kHeadOf[h] : l.vHeadOf[h]) === active.head;
        return (
          <g key={li} data-testid="head-map-layer" data-layer={li} data-k-heads={l.kHeads} data-v-heads={l.vHeads}>
            <text x={4} y={qY + box * 0.7} fontSize={11} fill="#1b263b">
              layer {li}
            </text>
            <text x={4} y={kY + box * 0.7} fontSize={10} fill={K_COLOUR}>
              K {l.kHeads}
            </text>
            <text x={4} y={vY + box * 0.7} fontSize={10} fill={V_COLOUR}>
              V {l.vHeads}
            </text>
            <HeadLinks
              kind="k"
              headOf={l.kHeadOf}
              queries={l.kHeadOf.length}
              x1={(h) => qx(h) + box / 2}
              x2={(h) => headX(l.kHeads, l.kHeadOf[h]) + box / 2}
              y1={qY + box}
              y2={kY}
              colour={K_COLOUR}
              hovered={active !== null}
              lit={(h) => Boolean(reads(h)) && active?.kind === 'k'}
              litWidth={2.5}
              opacity={[0.7, 0.15]}
            />
            <HeadLinks
              kind="v"
              headOf={l.vHeadOf}
              queries={l.vHeadOf.length}
              x1={(h) => qx(h) + box / 2}
              x2={(h) => headX(l.vHeads, l.vHeadOf[h]) + box / 2}
              y1={qY + box}
              y2={vY}
              colour={V_COLOUR}
              hovered={active !== null}
              lit={(h) => Boolean(reads(h)) && active?.kind === 'v'}
              litWidth={2.5}
              opacity={[0.45, 0.1]}
              dash="3 2"
            />
            {l.kHeadOf.map((_, h) => (
              <rect key={`q${h}`} x={qx(h)} y={qY} width={box} height={box} rx={2} fill={reads(h) ? '#1b263b' : Q_COLOUR} data-testid="head-map-q-head">
                <title>{`layer ${li}, query head ${h} (original head ${l.origin.q[h]}): reads K head ${l.kHeadOf[h]} and V head ${l.vHeadOf[h]}`}</title>
              </rect>
            ))}
            {(['k', 'v'] as const).map((kindOf) => {
              const n = kindOf === 'k' ? l.kHeads : l.vHeads;
              const map = kindOf === 'k' ? l.kHeadOf : l.vHeadOf;
              const yy = kindOf === 'k' ? kY : vY;
              return Array.from({ length: n }, (_, i) => {
                const readers = map.flatMap((m, h) => (m === i ? [h] : []));
                const merged = (kindOf === 'k' ? l.origin.k : l.origin.v)[i] ?? [i];
                const label = `layer ${li}, ${kindOf.toUpperCase()} head ${i}: ${merged.length > 1 ? `merged from original ${kindOf.toUpperCase()} heads ${merged.join(', ')}` : `original ${kindOf.toUpperCase()} head ${merged[0]}`}; read by query head${readers.length > 1 ? 's' : ''} ${readers.join(', ')}`;
                const on = active?.kind === kindOf && active.head === i;
                return (
                  <rect
                    key={`${kindOf}${i}`}
                    x={headX(n, i)}
                    y={yy}
                    width={box}
                    height={box}
                    rx={box / 2}
                    fill={kindOf === 'k' ? K_COLOUR : V_COLOUR}
                    stroke={on ? '#1b263b' : 'none'}
                    strokeWidth={2}
                    tabIndex={0}
                    role="img"
                    aria-label={label}
                    onMouseEnter={() => setHover({ layer: li, kind: kindOf, head: i })}
                    onMouseLeave={() => setHover(null)}
                    onFocus={() => setHover({ layer: li, kind: kindOf, head: i })}
                    onBlur={() => setHover(null)}
                    data-testid="head-map-kv-head"
                    data-kind={kindOf}
                    data-head={i}
                    data-merged={merged.join(',')}
                    data-readers={readers.join(',')}
                  >
                    <title>{label}</title>
                  </rect>
                );
              });
            })}
          </g>
        );
      })}
    </ChartSvg>
  );
});
