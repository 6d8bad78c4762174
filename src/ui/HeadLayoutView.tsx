// A titled head-layout diagram (charts/HeadMap.tsx) with its KV-cache cost and SVG/PNG export: the loaded model in the Model
// panel, a fused result or DHA's search in the Fuse heads panel.
import { useRef } from 'react';
import type { KvLayout } from '../model/types';
import { formatBytes } from '../gpu/errors';
import { HeadMap } from './charts/HeadMap';
import { ExportButtons } from './charts/ExportButtons';

/** KV-cache bytes per token of a layout (f32 K and V of every layer). */
export function layoutKvBytes(layouts: KvLayout[], headDim: number): number {
  return layouts.reduce((s, l) => s + (l.kHeads + l.vHeads) * headDim * 4, 0);
}

export function HeadLayoutView(props: {
  layouts: Required<KvLayout>[];
  headDim: number;
  title: string;
  subtitle: string;
  kind: string;
  fileName: string;
  testId: string;
}) {
  const ref = useRef<SVGSVGElement>(null);
  const bytes = layoutKvBytes(props.layouts, props.headDim);
  const heads = props.layouts.reduce((s, l) => s + l.kHeads + l.vHeads, 0);
  return (
    <div className="head-layout" data-testid={props.testId}>
      <div className="sim-view-head">
        <h3 title="Which K head and which V head each query head reads, per layer: MHA one each, GQA a shared pair per group, DHA decoupled K and V">
          {props.title}
        </h3>
        <span className="hint" data-testid={`${props.testId}-kv`} data-bytes={bytes}>
          {heads} K+V heads · KV cache {formatBytes(bytes)} per token (float32)
        </span>
        <ExportButtons target={ref} name={props.fileName} view="head layout" testId={`${props.testId}-export`} />
      </div>
      <div className="sim-scroll">
        <HeadMap
          ref={ref}
          layouts={props.layouts}
          kind={props.kind}
          caption={[props.title, `${props.subtitle} · ${heads} K+V heads, ${formatBytes(bytes)} of KV cache per token`]}
        />
      </div>
    </div>
  );
}
