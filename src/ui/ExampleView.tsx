// A page that teaches without WebGPU: why the lab cannot compute here and how to turn WebGPU on, then a complete worked
// example on the built-in demo — head layout, head similarity, DHA's budget path, the three methods and their recovery, the
// trade-off — computed by the lab itself (scripts/make-example.sh) and labelled with the adapter and date it ran on.
import { useEffect, useRef, useState } from 'react';
import { ExportButtons } from './charts/ExportButtons';
import { useGpu } from '../lab/gpuStore';
import { EXAMPLE_URL, type ExampleData } from '../lab/example';
import { budgetLabel, compactCounts } from '../lab/fusionStore';
import { HeadMap } from './charts/HeadMap';
import { SimilarityGrid } from './charts/SimilarityGrid';
import { BudgetBars } from './charts/BudgetBars';
import { LineChart, type Series } from './charts/LineChart';
import { ParetoChart } from './charts/ParetoChart';
import { METHOD_COLOUR, METHOD_NAME } from './fusion/common';
import { formatBytes } from '../gpu/errors';

const ENABLE: [string, string][] = [
  ['Chrome or Edge on Windows, macOS, ChromeOS', 'WebGPU is on from version 113: update the browser; check that hardware acceleration is on (Settings → System).'],
  ['Chrome on Linux', 'open chrome://flags/#enable-unsafe-webgpu, set it to Enabled and relaunch (or start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan).'],
  ['Chrome on Android', 'version 121 or newer on Android 12+ with a recent GPU.'],
  ['Safari', 'Safari 26 (macOS, iOS, iPadOS) has WebGPU; on older versions enable it under Develop → Feature Flags → WebGPU.'],
  ['Firefox', 'Firefox 141+ on Windows has WebGPU; elsewhere use Firefox Nightly (about:config → dom.webgpu.enabled).'],
];

export function ExampleView() {
  const error = useGpu((s) => s.error);
  const [data, setData] = useState<ExampleData | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const refs = { layout: useRef<SVGSVGElement>(null), grid: useRef<SVGSVGElement>(null), bars: useRef<SVGSVGElement>(null), dha: useRef<SVGSVGElement>(null), curves: useRef<SVGSVGElement>(null), pareto: useRef<SVGSVGElement>(null) };
  useEffect(() => {
    fetch(`${import.meta.env.BASE_URL}${EXAMPLE_URL}`)
      .then((r) => (r.ok ? (r.json() as Promise<ExampleData>) : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then(setData, (e: unknown) => setProblem(`The worked example could not be loaded (${e instanceof Error ? e.message : String(e)}).`));
  }, []);
  const dha = data?.runs.find((r) => r.method === 'dha');
  const heads = data ? data.model.layouts.map((l) => ({ k: l.kHeads, v: l.vHeads })) : [];
  const series: Series[] = data
    ? [
        ...data.runs.map((r) => ({ key: r.method, label: METHOD_NAME[r.method], colour: METHOD_COLOUR[r.method], points: r.curve.map((p) => ({ x: p.tokens, y: p.ppl })) })),
        { key: 'original', label: 'original', colour: '#000000', dashed: true, points: [{ x: 0, y: data.model.pplOriginal }, { x: Math.max(...data.runs.flatMap((r) => r.curve.map((p) => p.tokens))), y: data.model.pplOriginal }] },
      ]
    : [];
  return (
    <section className="panel" data-testid="example" aria-labelledby="example-title">
      <h2 id="example-title">This browser cannot run the lab — here is what it shows</h2>
      <div className="notice" role="status" data-testid="example-reason">
        <strong>Why:</strong> {error ?? 'WebGPU is not available.'}
      </div>
      <details open data-testid="example-enable">
        <summary>How to turn WebGPU on</summary>
        <ul>
          {ENABLE.map(([where, how]) => (
            <li key={where}>
              <strong>{where}:</strong> {how}
            </li>
          ))}
        </ul>
        <p className="hint">The page must come from https or localhost. Then reload: the lab opens on the same built-in demo and computes everything below itself.</p>
      </details>
      {problem && <p className="error">{problem}</p>}
      {data && (
        <div data-testid="example-views">
          <p className="hint" data-testid="example-provenance">
            A worked example on {data.model.name}, computed by the lab on <strong>{data.adapter}</strong> on <strong>{data.date}</strong> ({data.command}). Perplexity
            on {data.evalText}; the original reads them at {data.model.pplOriginal.toFixed(3)}.
          </p>
          <h3>1. What the KV cache costs</h3>
          <p className="hint">
            {data.model.layers} layers × {data.model.heads} query heads, each with its own K and V head: {formatBytes(data.model.kvBytesPerToken)} of keys and
            values cached per token.
          </p>
          <div className="sim-scroll">
            <HeadMap ref={refs.layout} layouts={data.model.layouts} kind="example" caption={[`Head layout — ${data.model.name}`, 'multi-head attention: every query head has its own K and V head']} />
          </div>
          <ExportButtons target={refs.layout} name="example-head-layout" view="head layout" testId="example-head-layout-export" />
          <h3>2. Which heads are alike</h3>
          <p className="hint">CKA of the heads’ outputs on {data.similarity.tokens} tokens: 1 means two heads compute the same thing up to a rotation and scale.</p>
          <div className="sim-scroll">
            <SimilarityGrid ref={refs.grid} layers={data.similarity.layers} kinds={['k', 'v']} orderOf={() => undefined} caption={['CKA similarity of K and V heads', `${data.model.name} · ${data.similarity.tokens} calibration tokens`]} onOpen={() => {}} />
          </div>
          <ExportButtons target={refs.grid} name="example-similarity" view="similarity maps" testId="example-similarity-export" />
          {dha && data.budgetPath.length > 0 && (
            <>
              <h3>3. DHA shares the budget across layers, K and V separately</h3>
              <div className="sim-scroll">
                <BudgetBars ref={refs.bars} heads={heads} perLayer={dha.perLayer} caption={[`DHA at ${budgetLabel(dha.budget)}: heads kept per layer`, `${data.budgetPath.length} steps of the search from every head down to the budget`]} />
              </div>
              <ExportButtons target={refs.bars} name="example-dha-budgets" view="budget bars" testId="example-dha-budgets-export" />
              <div className="sim-scroll">
                <HeadMap ref={refs.dha} layouts={dha.layouts} kind="example-dha" caption={[`Head layout after DHA at ${budgetLabel(dha.budget)}`, 'K and V maps differ: decoupled heads']} />
              </div>
              <ExportButtons target={refs.dha} name="example-dha-layout" view="DHA head layout" testId="example-dha-layout-export" />
            </>
          )}
          <h3>4. Three ways to fewer heads, then the same training</h3>
          <table className="results" data-testid="example-results">
            <thead>
              <tr>
                <th scope="col">method</th>
                <th scope="col">K/V per layer</th>
                <th scope="col">KV bytes/token</th>
                <th scope="col">perplexity: original → converted → trained</th>
              </tr>
            </thead>
            <tbody>
              {data.runs.map((r) => (
                <tr key={r.method} data-testid="example-row" data-method={r.method}>
                  <td>{METHOD_NAME[r.method]} at {budgetLabel(r.budget)}</td>
                  <td className="fusion-counts">{compactCounts(r.perLayer)}</td>
                  <td>
                    {data.model.kvBytesPerToken.toLocaleString('en')} → {r.kvBytesPerToken.toLocaleString('en')}
                  </td>
                  <td>
                    {data.model.pplOriginal.toFixed(3)} → {r.pplConverted.toFixed(3)} → <strong>{r.pplAfter.toFixed(3)}</strong>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="sim-scroll">
            <LineChart
              ref={refs.curves}
              testId="example-race"
              series={series}
              xMax={Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.x)))}
              xLabel="training tokens"
              yLabel="held-out perplexity"
              width={640}
              caption={['Recovery: held-out perplexity while training', `${data.training.steps} steps × ${data.training.batch * data.training.seqLen} tokens, lr ${data.training.lr}, every weight, KL to the original`]}
            />
          </div>
          <ExportButtons target={refs.curves} name="example-race" view="recovery chart" testId="example-race-export" />
          <h3>5. The trade-off</h3>
          <div className="sim-scroll">
            <ParetoChart
              ref={refs.pareto}
              points={data.runs.map((r) => ({ key: r.method, group: r.method, colour: METHOD_COLOUR[r.method], x: r.kvBytesPerToken, y: r.pplAfter, label: `${METHOD_NAME[r.method]}: ${r.pplAfter.toFixed(3)}` }))}
              reference={{ x: data.model.kvBytesPerToken, y: data.model.pplOriginal, label: `original: ${data.model.pplOriginal.toFixed(3)}` }}
              groups={data.runs.map((r) => ({ name: METHOD_NAME[r.method], colour: METHOD_COLOUR[r.method] }))}
              caption={['KV cache against perplexity, after training', data.model.name]}
            />
          </div>
          <ExportButtons target={refs.pareto} name="example-pareto" view="trade-off chart" testId="example-pareto-export" />
        </div>
      )}
    </section>
  );
}
