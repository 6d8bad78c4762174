// What the worked example's views share: its parts' ids (the tour walks them without WebGPU), the data fetched once for
// every view that reads it, how a run is named and counted, and a figure with its export buttons.
import { useEffect, useRef, useState, type ReactNode, type RefObject } from 'react';
import { EXAMPLE_URL, type ExampleData, type ExampleRun } from '../../lab/example';
import { METHOD_NAME } from '../fusion/common';
import { ExportButtons } from '../charts/ExportButtons';

/** The worked example's parts, in order: the tour points at them when the lab cannot run. */
export const EXAMPLE_PARTS = {
  kv: 'example-kv',
  similarity: 'example-similarity',
  dha: 'example-dha',
  methods: 'example-methods',
  recovery: 'example-recovery',
  tradeoff: 'example-tradeoff',
  enable: 'example-enable',
} as const;

let pending: Promise<ExampleData> | null = null;

/** The worked example, fetched once for every view that reads it (this one and the tour), when `wanted`. */
export function useExample(wanted = true): { data: ExampleData | null; problem: string | null } {
  const [state, setState] = useState<{ data: ExampleData | null; problem: string | null }>({ data: null, problem: null });
  useEffect(() => {
    if (!wanted) return;
    let live = true;
    pending ??= fetch(`${import.meta.env.BASE_URL}${EXAMPLE_URL}`).then((r) =>
      r.ok ? (r.json() as Promise<ExampleData>) : Promise.reject(new Error(`HTTP ${r.status}`)),
    );
    pending.then(
      (data) => live && setState({ data, problem: null }),
      (e: unknown) => live && setState({ data: null, problem: `The worked example could not be loaded (${e instanceof Error ? e.message : String(e)}).` }),
    );
    return () => {
      live = false;
    };
  }, [wanted]);
  return state;
}

/** A run's name: what was run, as the command that made it labels it (older examples name the method only). */
export const runName = (r: ExampleRun) => r.label ?? METHOD_NAME[r.method];
export const runKey = (r: ExampleRun) => r.lane ?? r.method;
/** A run's total training tokens, its conversion's own included: as recorded, else its curve's last point. */
export const runTokens = (r: ExampleRun) => r.tokens ?? r.curve.at(-1)?.tokens ?? 0;
export const n = (x: number) => x.toLocaleString('en');
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The range over layers of the cheapest pair's merge loss (no alignment), K and V: "2.3–6.6 %". */
export function lossRange(layers: ExampleData['similarity']['layers']): { k: string; v: string } | null {
  const k = layers.map((l) => l.redundancy?.k.loss ?? null);
  const v = layers.map((l) => l.redundancy?.v.loss ?? null);
  const known = (xs: (number | null)[]): xs is number[] => xs.length > 0 && xs.every((x) => x !== null);
  if (!known(k) || !known(v)) return null;
  const range = (xs: number[]) => `${(100 * Math.min(...xs)).toFixed(1)}–${pct(Math.max(...xs))}`;
  return { k: range(k), v: range(v) };
}

/** A chart of the example (drawn by `chart` into the ref it is given) and its SVG/PNG export. */
export function ExampleFigure({
  name,
  view,
  testId,
  chart,
}: {
  name: string;
  view: string;
  testId: string;
  chart: (ref: RefObject<SVGSVGElement | null>) => ReactNode;
}) {
  const ref = useRef<SVGSVGElement>(null);
  return (
    <>
      <div className="sim-scroll">{chart(ref)}</div>
      <ExportButtons target={ref} name={name} view={view} testId={testId} />
    </>
  );
}
