// Compare: every run of the results table on one trade-off chart (KV-cache bytes per token against held-out perplexity,
// the original as a reference) and, for a prompt, the attention of one query head in the original and in a fused result.
import { useId, useRef } from 'react';
import { useModel } from '../lab/modelStore';
import { useFusion, budgetLabel, compactCounts } from '../lab/fusionStore';
import { useCompare } from '../lab/compareStore';
import { useSettings, usePanelHidden } from '../lab/settingsStore';
import { FUSION_METHODS } from '../fusion/fuse';
import { ParetoChart, type ParetoPoint } from './charts/ParetoChart';
import { AttentionMap } from './charts/AttentionMap';
import { ExportButtons } from './charts/ExportButtons';
import { METHOD_COLOUR, METHOD_NAME } from './fusion/common';
import { Field } from './Field';

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
  const ids = useId();
  if (!loaded || hidden) return null;
  const points: ParetoPoint[] = rows.map((r, i) => ({
    key: String(r.id),
    group: r.method,
    colour: METHOD_COLOUR[r.method],
    x: r.kvAfter,
    y: r.pplAfter,
    label: `run ${i + 1}: ${METHOD_NAME[r.method]} at ${budgetLabel(r.budget)} — perplexity ${r.pplAfter.toFixed(3)}, ${r.kvAfter.toLocaleString('en')} KV bytes/token; K/V per layer ${compactCounts(r.perLayer)}; ${r.trainSteps} steps (${r.recoverySteps} recovery), seed ${r.seed}`,
  }));
  const last = rows.at(-1);
  const reference = last ? { x: last.kvBefore, y: last.pplBefore, label: `original ${last.model}: perplexity ${last.pplBefore.toFixed(3)}, ${last.kvBefore.toLocaleString('en')} KV bytes/token` } : null;
  const groups = FUSION_METHODS.filter((m) => rows.some((r) => r.method === m)).map((m) => ({ name: METHOD_NAME[m], colour: METHOD_COLOUR[m] }));
  const row = rows.find((r) => r.id === selected) ?? last;
  const [layer, head, prompt] = [values['compare.layer'] as number, values['compare.head'] as number, values['compare.prompt'] as string];
  const shownRow = shown ? rows.find((r) => r.id === shown.rowId) : undefined;
  return (
    <section className="panel" aria-labelledby={`${ids}-title`} data-testid="compare-panel" id="compare">
      <h2 id={`${ids}-title`}>Compare</h2>
      <p className="hint">What each run trades: KV-cache bytes per token against held-out perplexity (lower left is better), and what a merge changed in one head’s attention.</p>
      {rows.length === 0 ? (
        <p className="hint" data-testid="pareto-empty">Run a fusion or the recovery race: every run becomes a point here.</p>
      ) : (
        <>
          <div className="sim-view-head">
            <h3>KV cache against perplexity</h3>
            <ExportButtons target={pareto} name={`${loaded.name.replace(/[^\w.-]+/g, '_')}-pareto`} view="trade-off chart" testId="pareto-export" />
          </div>
          <div className="sim-scroll">
            <ParetoChart
              ref={pareto}
              points={points}
              reference={reference}
              groups={groups}
              caption={[`Every run — ${loaded.name}`, `perplexity on ${last!.evalText.replace(/ \(documents.*\)$/, '')}; hover a point for its settings`]}
            />
          </div>
          <h3>Attention before and after</h3>
          <p className="hint">
            Which earlier positions one query head reads (each row is a query position; darker: more attention), in the original and in
            {row ? ` run ${rows.indexOf(row) + 1} (${METHOD_NAME[row.method]} at ${budgetLabel(row.budget)}; click a results row to choose another)` : ' a fused result'}.
          </p>
          <div className="form-row">
            <Field k="compare.layer" testId="attention-layer" title="The layer (0 is the first)" />
            <Field k="compare.head" testId="attention-head" title="The query head (0 is the first)" />
            <Field k="compare.prompt" testId="attention-prompt" title="The text whose attention is drawn (at most 96 tokens)" />
            <button type="button" disabled={running || !row} onClick={() => row && void show(loaded, row, layer, head, prompt)} data-testid="attention-run" title="Compute the head's attention in both models">
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
                    <ExportButtons target={which === 'original' ? before : after} name={`attention-${which}-l${shown.layer}-h${shown.head}`} view="attention map" testId={`attention-export-${which}`} />
                  </div>
                  <AttentionMap
                    ref={which === 'original' ? before : after}
                    testId={`attention-${which}`}
                    tokens={shown[which].tokens}
                    probs={shown[which].probs}
                    caption={[
                      which === 'original' ? `Original — layer ${shown.layer}, query head ${shown.head}` : `${METHOD_NAME[shownRow.method]} at ${budgetLabel(shownRow.budget)} — layer ${shown.layer}, query head ${shown.head}`,
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
