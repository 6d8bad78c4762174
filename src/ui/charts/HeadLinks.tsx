// The lines of the head layout from each query head down to what it reads (a K head, a V head, or the latent), drawn once
// for HeadMap.tsx and HeadMapLatent.tsx: while something in the layer is hovered, the lines of the query heads that read it
// are lit (wider) and the others fade.
export interface HeadLinksProps {
  kind: 'k' | 'v' | 'latent';
  /** The K or V head each query head reads (data-head); absent for the latent, which every query head reads. */
  headOf?: number[];
  queries: number;
  x1: (h: number) => number;
  x2: (h: number) => number;
  y1: number;
  y2: number;
  colour: string;
  /** Something in this layer is hovered; query head h's line is lit. */
  hovered: boolean;
  lit: (h: number) => boolean;
  litWidth: number;
  /** Stroke opacity as drawn, and faded while something else is hovered. */
  opacity: [number, number];
  dash?: string;
}

export function HeadLinks(p: HeadLinksProps) {
  return Array.from({ length: p.queries }, (_, h) => (
    <line
      key={`${p.kind}${h}`}
      x1={p.x1(h)}
      y1={p.y1}
      x2={p.x2(h)}
      y2={p.y2}
      stroke={p.colour}
      strokeWidth={p.lit(h) ? p.litWidth : 1}
      strokeOpacity={p.hovered && !p.lit(h) ? p.opacity[1] : p.opacity[0]}
      strokeDasharray={p.dash}
      data-testid="head-map-link"
      data-kind={p.kind}
      data-query={h}
      data-head={p.headOf?.[h]}
    />
  ));
}
