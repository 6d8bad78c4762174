// One latent-KV (MLA) layer of the head layout (HeadMap.tsx): the query heads in a row; below them each K head's kept rotary
// key dims (a small square per K head: the only part of a key cached with its position), with a line from every query head
// to the K head it reads; and one block across the width, the latent that every query head rebuilds its keys' other dims
// and its values from — the cache is that latent plus the rotary squares, not K and V heads.
import type { HeadLayout } from '../../model/heads';
import type { LatentKv } from '../../model/types';
import { K_COLOUR, LATENT_COLOUR, Q_COLOUR, type HeadHover } from './headColours';
import { HeadLinks } from './HeadLinks';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function LatentLayer(props: {
  layout: HeadLayout;
  latent: Pick<LatentKv, 'rank' | 'ropePairs'>;
  index: number;
  /** The y of the query heads' row, the rotary squares' row and the latent's. */
  rows: { q: number; k: number; latent: number };
  left: number;
  right: number;
  box: number;
  qx: (h: number) => number;
  headX: (count: number, i: number) => number;
  hover: HeadHover;
  setHover: (h: HeadHover) => void;
}) {
  const { layout: l, latent, index: li, box, qx, headX, hover, setHover } = props;
  const H = l.kHeadOf.length;
  const r = latent.ropePairs[0]?.length ?? 0;
  const { q: qY, k: kY, latent: cY } = props.rows;
  const active = hover?.layer === li ? hover : null;
  const reads = (h: number) => active !== null && (active.kind === 'latent' || l.kHeadOf[h] === active.head);
  const focus = (kind: 'k' | 'latent', head: number) => ({
    onMouseEnter: () => setHover({ layer: li, kind, head }),
    onMouseLeave: () => setHover(null),
    onFocus: () => setHover({ layer: li, kind, head }),
    onBlur: () => setHover(null),
  });
  const latentLabel =
    `layer ${li}: one latent of ${latent.rank} values per token, shared by all ${H} query heads — each rebuilds its values, and the key dims ` +
    `that do not rotate, from it`;
  return (
    <g data-testid="head-map-layer" data-layer={li} data-k-heads={l.kHeads} data-v-heads={l.vHeads} data-latent={latent.rank} data-rope-pairs={r}>
      <text x={4} y={qY + box * 0.7} fontSize={11} fill="#1b263b">
        layer {li}
      </text>
      <text x={4} y={kY + box * 0.7} fontSize={10} fill={K_COLOUR}>
        rope r={r}
      </text>
      <text x={4} y={cY + box * 0.7} fontSize={10} fill={LATENT_COLOUR}>
        d_c {latent.rank}
      </text>
      <HeadLinks
        kind="latent"
        queries={H}
        x1={(h) => qx(h) + box / 2}
        x2={(h) => qx(h) + box / 2}
        y1={qY + box}
        y2={cY}
        colour={LATENT_COLOUR}
        hovered={active !== null}
        lit={() => active?.kind === 'latent'}
        litWidth={2}
        opacity={[0.45, 0.1]}
        dash="3 2"
      />
      <HeadLinks
        kind="k"
        headOf={l.kHeadOf}
        queries={H}
        x1={(h) => qx(h) + box / 2}
        x2={(h) => headX(l.kHeads, l.kHeadOf[h]) + box / 2}
        y1={qY + box}
        y2={kY}
        colour={K_COLOUR}
        hovered={active !== null}
        lit={(h) => active?.kind === 'k' && reads(h)}
        litWidth={2.5}
        opacity={[0.7, 0.15]}
      />
      {l.kHeadOf.map((k, h) => (
        <rect key={`q${h}`} x={qx(h)} y={qY} width={box} height={box} rx={2} fill={reads(h) ? '#1b263b' : Q_COLOUR} data-testid="head-map-q-head">
          <title>{`layer ${li}, query head ${h} (original head ${l.origin.q[h]}): reads the rotary key dims of K head ${k} and the shared latent`}</title>
        </rect>
      ))}
      {latent.ropePairs.map((pairs, i) => {
        const readers = l.kHeadOf.flatMap((k, h) => (k === i ? [h] : []));
        const label =
          (pairs.length
            ? `layer ${li}, K head ${i}: keeps its position (rotary encoding) on ${plural(pairs.length, 'rotary pair')} (${pairs.join(', ')}), ` +
              `${2 * pairs.length} key dims cached per token; its other key dims come from the latent`
            : `layer ${li}, K head ${i}: keeps no rotary pair, so its keys carry no position: all of them come from the latent`) +
          `; read by query head${readers.length > 1 ? 's' : ''} ${readers.join(', ')}`;
        const on = active?.kind === 'k' && active.head === i;
        return (
          <rect
            key={`r${i}`}
            x={headX(l.kHeads, i)}
            y={kY}
            width={box}
            height={box}
            rx={2}
            fill={pairs.length ? K_COLOUR : '#ffffff'}
            stroke={on ? '#1b263b' : K_COLOUR}
            strokeWidth={on ? 2 : 1}
            tabIndex={0}
            role="img"
            aria-label={label}
            {...focus('k', i)}
            data-testid="head-map-rope-head"
            data-head={i}
            data-pairs={pairs.join(',')}
            data-readers={readers.join(',')}
          >
            <title>{label}</title>
          </rect>
        );
      })}
      <g tabIndex={0} role="img" aria-label={latentLabel} {...focus('latent', 0)} data-testid="head-map-latent" data-rank={latent.rank}>
        <rect
          x={props.left}
          y={cY}
          width={props.right - props.left}
          height={box}
          rx={3}
          fill={LATENT_COLOUR}
          stroke={active?.kind === 'latent' ? '#1b263b' : 'none'}
          strokeWidth={2}
        />
        <text x={(props.left + props.right) / 2} y={cY + box * 0.68} fontSize={10} fill="#1b263b" textAnchor="middle">
          latent: {latent.rank} values per token, read by all {H} query heads
        </text>
        <title>{latentLabel}</title>
      </g>
    </g>
  );
}
