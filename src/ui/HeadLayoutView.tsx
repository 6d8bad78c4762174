// A titled head-layout diagram (charts/HeadMap.tsx) with its KV-cache cost and SVG/PNG export: the loaded model in the Model
// panel, a fused result or DHA's search in the Fuse heads panel.
import { useRef } from 'react';
import { layoutKvBytes, type HeadLayout } from '../model/heads';
import { latentLine } from '../model/card';
import { keptPairs } from '../model/latent';
import { formatBytes } from '../format';
import { HeadMap } from './charts/HeadMap';
import { useKvQuant } from './KvCacheFields';
import { kvQuantLabel, quantisedBytesPerToken } from '../model/kvQuant';
import { ExportButtons } from './charts/ExportButtons';

/** What the layers cache in words: their K+V heads, or (a latent layer among them) the latent's width and rotary pairs. */
function cacheText(layouts: HeadLayout[], bytes: number): string {
  if (!layouts.some((l) => l.latent)) return `${layouts.reduce((s, l) => s + l.kHeads + l.vHeads, 0)} K+V heads`;
  return latentLine(
    layouts.map((l) => (l.latent ? { rank: l.latent.rank, ropePairs: keptPairs(l.latent) } : null)),
    bytes,
  );
}

export function HeadLayoutView(props: {
  layouts: HeadLayout[];
  headDim: number;
  title: string;
  subtitle: string;
  kind: string;
  fileName: string;
  testId: string;
}) {
  const ref = useRef<SVGSVGElement>(null);
  const q = useKvQuant();
  const bytes = layoutKvBytes(props.headDim, props.layouts);
  const quantised = q
    ? quantisedBytesPerToken(
        props.headDim,
        props.layouts.map((l) => ({ kHeads: l.kHeads, vHeads: l.vHeads, latent: l.latent ? { rank: l.latent.rank, rope: 2 * keptPairs(l.latent) } : null })),
        q,
      )
    : null;
  const cache = cacheText(props.layouts, bytes);
  const latent = props.layouts.some((l) => l.latent);
  // a latent's line names its bytes already, and is long: the diagram gives it a caption line of its own
  const caption = latent ? [props.title, props.subtitle, cache] : [props.title, `${props.subtitle} · ${cache}, ${formatBytes(bytes)} of KV cache per token`];
  return (
    <div className="head-layout" data-testid={props.testId}>
      <div className="sim-view-head">
        <h3 title="Which K head and which V head each query head reads, per layer: MHA one each, GQA a shared pair per group, DHA decoupled K and V; a latent (MLA) layer caches one latent that every query head reads, plus a few rotary key dims per K head">
          {props.title}
        </h3>
        <span className="hint" data-testid={`${props.testId}-kv`} data-bytes={bytes}>
          {latent ? cache : `${cache} · KV cache ${formatBytes(bytes)} per token`} (float32)
          {quantised !== null && (
            <span
              data-testid={`${props.testId}-kv-quant`}
              title={`Through the Evaluate panel’s ${kvQuantLabel(q)}: codes and scales per token once quantised; the recent exact positions stay at 16 bits`}
            >
              {' '}
              · {q!.bits}-bit: {formatBytes(quantised)} per quantised token
            </span>
          )}
        </span>
        <ExportButtons target={ref} name={props.fileName} view="head layout" testId={`${props.testId}-export`} />
      </div>
      <div className="sim-scroll">
        <HeadMap ref={ref} layouts={props.layouts} kind={props.kind} caption={caption} />
      </div>
    </div>
  );
}
