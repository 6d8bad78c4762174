// The worked example's conversions and what training made of them: the runs' table (KV shape, bytes, training tokens,
// perplexity original → converted → trained), the recovery curves against total training tokens, and the trade-off of KV
// bytes against perplexity.
import type { ExampleData } from '../../lab/example';
import { budgetLabel, compactShape } from '../../lab/fusionStore';
import { LineChart, type Series } from '../charts/LineChart';
import { ParetoChart } from '../charts/ParetoChart';
import { KV_SHAPE_HEADER, METHOD_COLOUR, METHOD_NAME } from '../fusion/common';
import { EXAMPLE_PARTS, ExampleFigure, n, runKey, runName, runTokens } from './common';
import { GlossaryLink } from '../Glossary';

export function ExampleRuns({ data }: { data: ExampleData }) {
  const t = data.training;
  const perStep = t.batch * t.seqLen;
  const totals = [...new Set(data.runs.map(runTokens))];
  const equal = totals.length === 1;
  const budgets = [...new Set(data.runs.map((r) => budgetLabel(r.budget)))];
  const series: Series[] = [
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
  ];
  return (
    <>
      <div className="example-part" id={EXAMPLE_PARTS.methods} data-testid="example-part" data-part="methods">
        <h3>
          4. {data.runs.length} ways to a smaller KV cache at {budgets.join(', ')}, then training{equal ? ' on the same total of tokens' : ''}
        </h3>
        <p className="hint" data-testid="example-training">
          {equal ? (
            <>
              Every run trains on {n(totals[0])} tokens in all: {t.steps} steps of {t.batch} × {t.seqLen} tokens, end to end toward the original (every weight,
              distilled by <GlossaryLink term="kl">KL</GlossaryLink>, lr {t.lr})
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
              differ: {data.runs.map((r) => `${runName(r)} ${n(runTokens(r))}`).join(', ')} tokens — DHA’s own layer-local steps came before the shared training
              (its curve starts to the right), so compare the curves at equal tokens, not the last figures.
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
              <th
                scope="col"
                title="Converted: right after the conversion — for a run with its own layer-local steps (DHA), after those steps, which are part of its training tokens"
              >
                perplexity per byte: original → converted (after own steps) → trained
              </th>
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
        <ExampleFigure
          name="example-race"
          view="recovery chart"
          testId="example-race-export"
          chart={(ref) => (
            <LineChart
              ref={ref}
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
          )}
        />
      </div>
      <div className="example-part" id={EXAMPLE_PARTS.tradeoff} data-testid="example-part" data-part="tradeoff">
        <h3>5. The trade-off</h3>
        <p className="hint">
          Each run is a point: KV-cache bytes per token (float32) against held-out perplexity per byte after training; lower left is better.
        </p>
        <ExampleFigure
          name="example-pareto"
          view="trade-off chart"
          testId="example-pareto-export"
          chart={(ref) => (
            <ParetoChart
              ref={ref}
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
          )}
        />
      </div>
    </>
  );
}
