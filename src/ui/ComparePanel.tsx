// Compare: every run of the results table on one trade-off chart (KV-cache bytes per token against held-out perplexity,
// the original as a reference; each run with its total training tokens, and a filter to the runs trained on the same tokens
// of the same text, since runs compare fairly only then) and, for a prompt, the attention of one query head in the original
// and in a fused result.
import { useId, useRef, useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useFusion, budgetLabel, compactShape } from '../lab/fusionStore';
import { useCompare } from '../lab/compareStore';
import { useSettings, usePanelHidden } from '../lab/settingsStore';
import { FUSION_METHODS } from '../fusion/fuse';
import { ParetoChart, type ParetoPoint } from './charts/ParetoChart';
import { AttentionMap } from './charts/AttentionMap';
import { ExportButtons } from './charts/ExportButtons';
import { ChartFrame } from './charts/ChartFrame';
import { METHOD_COLOUR, METHOD_NAME } from './fusion/common';
import { Field } from './Field';
import type { ResultRow } from '../lab/fusionRun';
import { kvQuantLabel } from '../model/kvQuant';

/** The colour of points measured through a quantised KV cache (Okabe–Ito vermilion, no method's). */
const KV_COLOUR = '#D55E00';

/** A run's name: what was run (rows saved before labels existed: the method). */
const nameOf = (r: ResultRow) => r.label ?? METHOD_NAME[r.method];
const n = (x: number) => x.toLocaleString('en');
/**
 * What a run trained on: its total training tokens and the text they came from (the calibration text and its size; runs that
 * trained nothing all share one key per total). Rows saved before the record named the text have an empty one.
 */
const trainingKey = (r: ResultRow) => (r.trainTokens ? `${r.trainTokens}\u0000${r.calibrationText ?? ''}\u0000${r.calibrationTokens}` : '0\u0000\u00000');
const trainingText = (k: string) => {
  const [, text, tokens] = k.split('\u0000');
  return text ? `the first ${n(Number(tokens))} tokens of ${text}` : 'no training';
};

export function ComparePanel() {
  const hidden = usePanelHidden('compare');
  const loaded = useModel((s) => s.loaded);
  const rows = useFusion((s) => s.rows);
  const selected = useFusion((s) => s.selected);
  const { running, error, shown, show } = useCompare();
  const values = useSettings((s) => s.values);
  const pareto = useRef<SVGSVGElement>(null);
  const before = useRef<SVGSVGElement>(null);
  const after = useRef<SVGSVGElement>(null);
  const [tokenBudget, setTokenBudget] = useState('all');
  const [unit, setUnit] = useState<'f32' | '16'>('f32');
  const ids = useId();
  if (!loaded || hidden) return null;
  // The distinct (training tokens, training text) among the runs; a chosen one that no run has any more shows every run.
  const keys = [...new Set(rows.map(trainingKey))].sort((a, b) => Number(a.split('\u0000')[0]) - Number(b.split('\u0000')[0]) || a.localeCompare(b));
  const only = tokenBudget !== 'all' && keys.includes(tokenBudget) ? tokenBudget : null;
  const onlyTokens = only === null ? null : Number(only.split('\u0000')[0]);
  // Bytes counted in f32 as the lab computes, or in 16 bits as deployed caches hold exact values (a plain cache: half).
  const plainBytes = (b: number) => (unit === 'f32' ? b : b / 2);
  const points: ParetoPoint[] = rows.flatMap((r, i) =>
    only !== null && trainingKey(r) !== only
      ? []
      : [
          ...(r.kvCache && r.kvCache.pplAfter !== null
            ? [
                {
                  key: `${r.id}-kv`,
                  group: 'kv',
                  colour: KV_COLOUR,
                  x: unit === 'f32' ? r.kvCache.bytesPerTokenF32 : r.kvCache.bytesPerToken,
                  y: r.kvCache.pplAfter,
                  tokens: r.trainTokens,
                  label: `run ${i + 1}: ${nameOf(r)} at ${budgetLabel(r.budget)} through a ${kvQuantLabel(r.kvCache.quant)} — perplexity ${r.kvCache.pplAfter.toFixed(3)}, ${(unit === 'f32' ? r.kvCache.bytesPerTokenF32 : r.kvCache.bytesPerToken).toFixed(0)} KV bytes/token at a context of ${r.kvCache.context}`,
                },
              ]
            : []),
          {
            key: String(r.id),
            group: r.method,
            colour: METHOD_COLOUR[r.method],
            x: plainBytes(r.kvBytesPerToken),
            y: r.pplAfter,
            tokens: r.trainTokens,
            label:
              `run ${i + 1}: ${nameOf(r)} at ${budgetLabel(r.budget)} — perplexity ${r.pplAfter.toFixed(3)} after ${n(r.trainTokens)} training tokens, ` +
              `${n(plainBytes(r.kvBytesPerToken))} KV bytes/token; ${r.latent ? 'latent + rotary dims' : 'K/V'} per layer ${compactShape(r.perLayer, r.latent)}; ${r.trainSteps} steps (${r.recoverySteps} end to end), seed ${r.seed}`,
          },
        ],
  );
  // The original through the cache: quantisation alone (it trains nothing), from the last run that measured it.
  const quantAlone = [...rows].reverse().find((r) => r.kvCache?.pplBefore != null);
  if (quantAlone?.kvCache)
    points.push({
      key: 'original-kv',
      group: 'kv',
      colour: KV_COLOUR,
      x: unit === 'f32' ? quantAlone.kvCache.bytesPerTokenBeforeF32 : quantAlone.kvCache.bytesPerTokenBefore,
      y: quantAlone.kvCache.pplBefore!,
      label: `original ${quantAlone.model} through a ${kvQuantLabel(quantAlone.kvCache.quant)}: perplexity ${quantAlone.kvCache.pplBefore!.toFixed(3)} (quantisation alone)`,
    });
  const last = rows.at(-1);
  const reference = last
    ? {
        x: plainBytes(last.kvBytesPerTokenBefore),
        y: last.pplBefore,
        label: `original ${last.model}: perplexity ${last.pplBefore.toFixed(3)}, ${plainBytes(last.kvBytesPerTokenBefore).toLocaleString('en')} KV bytes/token`,
      }
    : null;
  const groups = [
    ...FUSION_METHODS.filter((m) => points.some((p) => p.group === m)).map((m) => ({ name: METHOD_NAME[m], colour: METHOD_COLOUR[m] })),
    ...(points.some((p) => p.group === 'kv') ? [{ name: 'through a quantised cache', colour: KV_COLOUR }] : []),
  ];
  const row = rows.find((r) => r.id === selected) ?? last;
  const [layer, head, prompt] = [values['compare.layer'], values['compare.head'], values['compare.prompt']];
  const shownRow = shown ? rows.find((r) => r.id === shown.rowId) : undefined;
  return (
    <section className="panel" aria-labelledby={`${ids}-title`} data-testid="compare-panel" id="compare">
      <h2 id={`${ids}-title`}>Compare</h2>
      <p className="hint">
        What each run trades: KV-cache bytes per token against held-out perplexity (lower left is better), and what a merge changed in one head’s attention.
        Runs made with a quantised KV cache chosen (Evaluate panel) appear twice: as converted, and through that cache — fewer heads, a latent and fewer bits on
        one bytes axis.
      </p>
      {rows.length === 0 ? (
        <p className="hint" data-testid="pareto-empty">
          Run a fusion or the recovery race: every run becomes a point here.
        </p>
      ) : (
        <>
          <ChartFrame
            title="KV cache against perplexity"
            hint="Hover a point for its settings and total training tokens."
            target={pareto}
            name={`${loaded.name.replace(/[^\w.-]+/g, '_')}-pareto`}
            view="trade-off chart"
            exportTestId="pareto-export"
            testId="pareto-chart"
            extra={
              <>
                <label title="What the bytes count exact values in: float32 as the lab computes, or 16 bits as deployed caches hold them (a quantised cache's codes and scales are the same in both)">
                  bytes in{' '}
                  <select value={unit} onChange={(e) => setUnit(e.target.value as 'f32' | '16')} data-testid="pareto-unit">
                    <option value="f32">float32 (the lab)</option>
                    <option value="16">16 bits (deployed)</option>
                  </select>
                </label>{' '}
                <label title="Runs compare fairly only when they trained on the same total of tokens (a conversion's own steps included) of the same text: show the runs of one such budget">
                  training{' '}
                  <select value={only ?? 'all'} onChange={(e) => setTokenBudget(e.target.value)} data-testid="pareto-tokens">
                    <option value="all">all runs</option>
                    {keys.map((k) => {
                      const count = rows.filter((r) => trainingKey(r) === k).length;
                      return (
                        <option key={k} value={k} title={trainingText(k)}>
                          {n(Number(k.split('\u0000')[0]))} tokens
                          {keys.some((o) => o !== k && o.split('\u0000')[0] === k.split('\u0000')[0]) ? ` of ${trainingText(k)}` : ''} ({count} run
                          {count > 1 ? 's' : ''})
                        </option>
                      );
                    })}
                  </select>
                </label>
              </>
            }
          >
            {(logY) => (
              <ParetoChart
                ref={pareto}
                points={points}
                reference={reference}
                groups={groups}
                logY={logY}
                xTitle={`KV-cache bytes per token (${unit === 'f32' ? 'float32, as the lab computes' : '16-bit, as deployed'})`}
                caption={[
                  only === null ? `Every run — ${loaded.name}` : `The runs trained on ${n(onlyTokens!)} tokens of the same text — ${loaded.name}`,
                  `perplexity on ${last!.evalText.replace(/ \(documents.*\)$/, '')}`,
                ]}
              />
            )}
          </ChartFrame>
          <h3>Attention before and after</h3>
          <p className="hint">
            Which earlier positions one query head reads (each row is a query position; darker: more attention), in the original and in
            {row ? ` run ${rows.indexOf(row) + 1}, ${nameOf(row)} at ${budgetLabel(row.budget)} (click a results row to choose another)` : ' a fused result'}.
          </p>
          <div className="form-row">
            <Field k="compare.layer" testId="attention-layer" title="The layer (0 is the first)" />
            <Field k="compare.head" testId="attention-head" title="The query head (0 is the first)" />
            <Field k="compare.prompt" testId="attention-prompt" title="The text whose attention is drawn (at most 96 tokens)" />
            <button
              type="button"
              disabled={running || !row}
              onClick={() => row && void show(loaded, row, layer, head, prompt)}
              data-testid="attention-run"
              title="Compute the head's attention in both models"
            >
              Show attention
            </button>
          </div>
          {error && (
            <p className="error" role="alert" data-testid="attention-error">
              {error}
            </p>
          )}
          {shown && shownRow && (
            <div className="attention-pair" data-testid="attention-pair">
              {(['original', 'fused'] as const).map((which) => (
                <div key={which}>
                  <div className="sim-view-head">
                    <ExportButtons
                      target={which === 'original' ? before : after}
                      name={`attention-${which}-l${shown.layer}-h${shown.head}`}
                      view="attention map"
                      testId={`attention-export-${which}`}
                    />
                  </div>
                  <AttentionMap
                    ref={which === 'original' ? before : after}
                    testId={`attention-${which}`}
                    tokens={shown[which].tokens}
                    probs={shown[which].probs}
                    caption={[
                      which === 'original'
                        ? `Original — layer ${shown.layer}, query head ${shown.head}`
                        : `${nameOf(shownRow)} at ${budgetLabel(shownRow.budget)} — layer ${shown.layer}, query head ${shown.head}`,
                      `reads K head ${shown[which].kHead}, V head ${shown[which].vHead}`,
                    ]}
                  />
                </div>
              ))}
            </div>
          )}
        </>
      )}
    </section>
  );
}
