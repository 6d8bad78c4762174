// A page that teaches without WebGPU: why the lab cannot compute here and how to turn WebGPU on, then a complete worked
// example on the built-in demo — head layout, head similarity, DHA's budget path, the conversions and their recovery, the
// trade-off — computed by the lab itself (scripts/make-example.sh) and labelled with the adapter and date it ran on. Each
// part has an id (EXAMPLE_PARTS) that the tour walks when the lab cannot run.
import { useEffect, useRef, useState } from 'react';
import { ExportButtons } from './charts/ExportButtons';
import { useGpu } from '../lab/gpuStore';
import { EXAMPLE_URL, type ExampleData, type ExampleRun } from '../lab/example';
import { budgetLabel, compactShape } from '../lab/fusionStore';
import { HeadMap } from './charts/HeadMap';
import { SimilarityGrid } from './charts/SimilarityGrid';
import { BudgetBars } from './charts/BudgetBars';
import { LineChart, type Series } from './charts/LineChart';
import { ParetoChart } from './charts/ParetoChart';
import { KV_SHAPE_HEADER, METHOD_COLOUR, METHOD_NAME } from './fusion/common';
import { formatBytes } from '../gpu/errors';
import { GlossaryLink } from './Glossary';

const ENABLE: [string, string][] = [
  [
    'Chrome or Edge on Windows, macOS, ChromeOS',
    'WebGPU is on from version 113: update the browser; check that hardware acceleration is on (Settings → System).',
  ],
  [
    'Chrome on Linux',
    'open chrome://flags/#enable-unsafe-webgpu, set it to Enabled and relaunch (or start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan).',
  ],
  ['Chrome on Android', 'version 121 or newer on Android 12+ with a recent GPU.'],
  ['Safari', 'Safari 26 (macOS, iOS, iPadOS) has WebGPU; on older versions enable it under Develop → Feature Flags → WebGPU.'],
  ['Firefox', 'Firefox 141+ on Windows has WebGPU; elsewhere use Firefox Nightly (about:config → dom.webgpu.enabled).'],
];

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
const runName = (r: ExampleRun) => r.label ?? METHOD_NAME[r.method];
const runKey = (r: ExampleRun) => r.lane ?? r.method;
/** A run's total training tokens, its conversion's own included: as recorded, else its curve's last point. */
const runTokens = (r: ExampleRun) => r.tokens ?? r.curve.at(-1)?.tokens ?? 0;
const n = (x: number) => x.toLocaleString('en');
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The range over layers of the cheapest pair's merge loss (no alignment), K and V: "2.3–6.6 %". */
function lossRange(layers: ExampleData['similarity']['layers']): { k: string; v: string } | null {
  const k = layers.map((l) => l.redundancy?.k.loss ?? null);
  const v = layers.map((l) => l.redundancy?.v.loss ?? null);
  const known = (xs: (number | null)[]): xs is number[] => xs.length > 0 && xs.every((x) => x !== null);
  if (!known(k) || !known(v)) return null;
  const range = (xs: number[]) => `${(100 * Math.min(...xs)).toFixed(1)}–${pct(Math.max(...xs))}`;
  return { k: range(k), v: range(v) };
}

export function ExampleView() {
  const error = useGpu((s) => s.error);
  const { data, problem } = useExample();
  const refs = {
    layout: useRef<SVGSVGElement>(null),
    grid: useRef<SVGSVGElement>(null),
    bars: useRef<SVGSVGElement>(null),
    dha: useRef<SVGSVGElement>(null),
    curves: useRef<SVGSVGElement>(null),
    pareto: useRef<SVGSVGElement>(null),
  };
  const dha = data?.runs.find((r) => r.method === 'dha' && (r.lane ?? 'dha') === 'dha') ?? data?.runs.find((r) => r.method === 'dha');
  const heads = data ? data.model.layouts.map((l) => ({ k: l.kHeads, v: l.vHeads })) : [];
  const series: Series[] = data
    ? [
        ...data.runs.map((r) => ({
          key: runKey(r),
          label: runName(r),
          colour: METHOD_COLOUR[r.method],
          dashed: runKey(r) !== r.method,
          points: r.curve.map((p) => ({ x: p.tokens, y: p.ppl })),
        })),
        {
          key: 'original',
          label: 'original',
          colour: '#000000',
          dashed: true,
          points: [
            { x: 0, y: data.model.pplOriginal },
            { x: Math.max(...data.runs.flatMap((r) => r.curve.map((p) => p.tokens))), y: data.model.pplOriginal },
          ],
        },
      ]
    : [];
  const t = data?.training;
  const perStep = t ? t.batch * t.seqLen : 0;
  const totals = data ? [...new Set(data.runs.map(runTokens))] : [];
  const equal = totals.length === 1;
  const budgets = data ? [...new Set(data.runs.map((r) => budgetLabel(r.budget)))] : [];
  const mergeLoss = data ? lossRange(data.similarity.layers) : null;
  return (
    <section className="panel" data-testid="example" aria-labelledby="example-title">
      <h2 id="example-title">This browser cannot run the lab — here is what it shows</h2>
      <div className="notice" role="status" data-testid="example-reason">
        <strong>Why:</strong> {error ?? 'WebGPU is not available.'}
      </div>
      <details open data-testid="example-enable" id={EXAMPLE_PARTS.enable}>
        <summary>How to turn WebGPU on</summary>
        <ul>
          {ENABLE.map(([where, how]) => (
            <li key={where}>
              <strong>{where}:</strong> {how}
            </li>
          ))}
        </ul>
        <p className="hint">
          The page must come from https or localhost. Then reload: the lab opens on the same built-in demo and computes everything below itself.
        </p>
      </details>
      {problem && <p className="error">{problem}</p>}
      {data && t && (
        <div data-testid="example-views">
          <p className="hint" data-testid="example-provenance">
            A worked example on {data.model.name}, computed by the lab on <strong>{data.adapter}</strong> on <strong>{data.date}</strong> ({data.command}).{' '}
            <GlossaryLink term="perplexity">Perplexity</GlossaryLink> is per byte (the demo reads bytes: a uniform guess scores 256, and these figures do not
            compare with per-token perplexities of other models), on {data.evalText}; the original reads them at {data.model.pplOriginal.toFixed(3)}.
          </p>
          <div className="example-part" id={EXAMPLE_PARTS.kv} data-testid="example-part" data-part="kv">
            <h3>1. What the KV cache costs</h3>
            <p className="hint">
              {data.model.layers} layers × {data.model.heads} query heads, each with its own K and V head: {formatBytes(data.model.kvBytesPerToken)} of keys and
              values cached per token — {data.model.layers} layers × {2 * data.model.heads} heads × {data.model.headDim} numbers × 4 bytes, counted in float32,
              the type the lab computes in (a model served in 16-bit numbers would cache half).
            </p>
            <div className="sim-scroll">
              <HeadMap
                ref={refs.layout}
                layouts={data.model.layouts}
                kind="example"
                caption={[`Head layout — ${data.model.name}`, 'multi-head attention: every query head has its own K and V head']}
              />
            </div>
            <ExportButtons target={refs.layout} name="example-head-layout" view="head layout" testId="example-head-layout-export" />
          </div>
          <div className="example-part" id={EXAMPLE_PARTS.similarity} data-testid="example-part" data-part="similarity">
            <h3>2. Which heads are alike</h3>
            <p className="hint">
              CKA of the heads’ outputs on {data.similarity.tokens} tokens: 1 means two heads’ outputs agree up to an orthogonal map (any rotation or reflection
              of the head’s space) and a scale. A merge may turn V heads by any orthogonal map, but K heads only within each{' '}
              <GlossaryLink term="rotary-plane">rotary plane</GlossaryLink>, so CKA can call two K heads alike that no allowed rotation brings together (the
              lab’s aligned metric counts only the allowed rotations).
              {mergeLoss && (
                <>
                  {' '}
                  What a merge costs tells K from V more plainly here: averaging a layer’s closest pair of heads without alignment loses {mergeLoss.k} of its K{' '}
                  <GlossaryLink term="energy">energy</GlossaryLink> but {mergeLoss.v} of its V energy (per layer, cheapest pair).
                </>
              )}
            </p>
            <div className="sim-scroll">
              <SimilarityGrid
                ref={refs.grid}
                layers={data.similarity.layers}
                kinds={['k', 'v']}
                orderOf={() => undefined}
                caption={['CKA similarity of K and V heads', `${data.model.name} · ${data.similarity.tokens} calibration tokens`]}
                onOpen={() => {}}
              />
            </div>
            <ExportButtons target={refs.grid} name="example-similarity" view="similarity maps" testId="example-similarity-export" />
          </div>
          {dha && data.budgetPath.length > 0 && (
            <div className="example-part" id={EXAMPLE_PARTS.dha} data-testid="example-part" data-part="dha">
              <h3>3. DHA shares the budget across layers, K and V separately</h3>
              <p className="hint">
                DHA’s search (our reconstruction) costs every grouping of each layer’s K heads, and apart its V heads, by the share of the layer’s{' '}
                <GlossaryLink term="energy">energy</GlossaryLink> an aligned merge loses, then shares the budget out: a layer whose heads merge cheaply keeps
                fewer, one whose heads do not keeps more. Here K and V each keep {budgetLabel(dha.budget)} of their heads in all.
              </p>
              <div className="sim-scroll">
                <BudgetBars
                  ref={refs.bars}
                  heads={heads}
                  perLayer={dha.perLayer}
                  caption={[
                    `DHA at ${budgetLabel(dha.budget)}: heads kept per layer`,
                    `${data.budgetPath.length} steps of the search from every head down to the budget`,
                  ]}
                />
              </div>
              <ExportButtons target={refs.bars} name="example-dha-budgets" view="budget bars" testId="example-dha-budgets-export" />
              <div className="sim-scroll">
                <HeadMap
                  ref={refs.dha}
                  layouts={dha.layouts}
                  kind="example-dha"
                  caption={[`Head layout after DHA at ${budgetLabel(dha.budget)}`, 'K and V maps differ: decoupled heads']}
                />
              </div>
              <ExportButtons target={refs.dha} name="example-dha-layout" view="DHA head layout" testId="example-dha-layout-export" />
            </div>
          )}
          <div className="example-part" id={EXAMPLE_PARTS.methods} data-testid="example-part" data-part="methods">
            <h3>
              4. {data.runs.length} ways to a smaller KV cache at {budgets.join(', ')}, then training{equal ? ' on the same total of tokens' : ''}
            </h3>
            <p className="hint" data-testid="example-training">
              {equal ? (
                <>
                  Every run trains on {n(totals[0])} tokens in all: {t.steps} steps of {t.batch} × {t.seqLen} tokens, end to end toward the original (every
                  weight, KL, lr {t.lr})
                  {t.dhaSteps !== undefined ? (
                    <>
                      ; DHA’s own layer-local steps ({t.dhaSteps} of {n(perStep)} tokens) come out of that total, so it trains fewer steps end to end
                    </>
                  ) : null}
                  .
                </>
              ) : (
                <>
                  Each run then trains {t.steps} steps of {t.batch} × {t.seqLen} tokens end to end toward the original (every weight, KL, lr {t.lr}). The totals
                  differ: {data.runs.map((r) => `${runName(r)} ${n(runTokens(r))}`).join(', ')} tokens — DHA’s own layer-local steps came before the shared
                  training (its curve starts to the right), so compare the curves at equal tokens, not the last figures.
                </>
              )}
            </p>
            <table className="results" data-testid="example-results">
              <thead>
                <tr>
                  <th scope="col">conversion</th>
                  <th scope="col" title={KV_SHAPE_HEADER.title}>
                    {KV_SHAPE_HEADER.text}
                  </th>
                  <th scope="col" title="Bytes of keys and values cached per token, counted in float32 (the type the lab computes in)">
                    KV bytes/token (float32)
                  </th>
                  <th scope="col">training tokens</th>
                  <th scope="col">perplexity per byte: original → converted → trained</th>
                </tr>
              </thead>
              <tbody>
                {data.runs.map((r) => (
                  <tr key={runKey(r)} data-testid="example-row" data-method={r.method} data-lane={runKey(r)} data-tokens={runTokens(r)}>
                    <td>
                      {runName(r)} at {budgetLabel(r.budget)}
                    </td>
                    <td className="fusion-counts">{compactShape(r.perLayer, r.latent)}</td>
                    <td>
                      {n(data.model.kvBytesPerToken)} → {n(r.kvBytesPerToken)}
                    </td>
                    <td>{n(runTokens(r))}</td>
                    <td>
                      {data.model.pplOriginal.toFixed(3)} → {r.pplConverted.toFixed(3)} → <strong>{r.pplAfter.toFixed(3)}</strong>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="example-part" id={EXAMPLE_PARTS.recovery} data-testid="example-part" data-part="recovery">
            <div className="sim-scroll">
              <LineChart
                ref={refs.curves}
                testId="example-race"
                series={series}
                xMax={Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.x)))}
                xLabel="training tokens (a conversion’s own included)"
                yLabel="held-out perplexity per byte"
                width={640}
                caption={[
                  'Recovery: held-out perplexity while training',
                  `${t.steps} steps × ${n(perStep)} tokens, lr ${t.lr}, every weight, KL to the original`,
                ]}
              />
            </div>
            <ExportButtons target={refs.curves} name="example-race" view="recovery chart" testId="example-race-export" />
          </div>
          <div className="example-part" id={EXAMPLE_PARTS.tradeoff} data-testid="example-part" data-part="tradeoff">
            <h3>5. The trade-off</h3>
            <p className="hint">
              Each run is a point: KV-cache bytes per token (float32) against held-out perplexity per byte after training; lower left is better.
            </p>
            <div className="sim-scroll">
              <ParetoChart
                ref={refs.pareto}
                points={data.runs.map((r) => ({
                  key: runKey(r),
                  group: r.method,
                  colour: METHOD_COLOUR[r.method],
                  x: r.kvBytesPerToken,
                  y: r.pplAfter,
                  label: `${runName(r)}: ${r.pplAfter.toFixed(3)} after ${n(runTokens(r))} training tokens`,
                }))}
                reference={{ x: data.model.kvBytesPerToken, y: data.model.pplOriginal, label: `original: ${data.model.pplOriginal.toFixed(3)}` }}
                groups={[...new Set(data.runs.map((r) => r.method))].map((m) => ({ name: METHOD_NAME[m], colour: METHOD_COLOUR[m] }))}
                caption={['KV cache against perplexity, after training', data.model.name]}
              />
            </div>
            <ExportButtons target={refs.pareto} name="example-pareto" view="trade-off chart" testId="example-pareto-export" />
          </div>
        </div>
      )}
    </section>
  );
}
