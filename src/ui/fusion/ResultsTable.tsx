// The results table of the fusion runs: one row per run (from the Fuse heads panel or the recovery race) with perplexity
// before → after, KV-cache bytes, time, steps; under each, its files for download and a side-by-side continuation.
import { budgetLabel, compactShape, rowFile, shapeLines, useFusion, type ResultRow } from '../../lab/fusionStore';
import { kvQuantLabel } from '../../model/kvQuant';
import { formatBytes } from '../../format';
import { downloadBlob } from '../charts/exportImage';
import { KV_SHAPE_HEADER, METHOD_NAME } from './common';
import { Field } from '../Field';

async function download(rowId: number, name: string) {
  const data = await rowFile(rowId, name);
  const type = name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  downloadBlob(name, new Blob([data as Uint8Array<ArrayBuffer>], { type }));
}

export function ResultsTable(props: { rows: ResultRow[]; canCompare: boolean; comparing: boolean; onCompare: (id: number) => void; onStop: () => void }) {
  const { rows } = props;
  const selected = useFusion((s) => s.selected);
  const select = useFusion((s) => s.select);
  return (
    <div className="fusion-results">
      <h3>Results</h3>
      <p className="hint">
        One row per run. Perplexity on {rows[rows.length - 1].evalText} (original → fused, with recovery training original → converted → trained); time is the
        conversion's and training's, without evaluation or time paused. Download a fused model's files into one folder to open it again in the Model panel (
        <em>Open folder…</em>).
      </p>
      <div className="sim-scroll">
        <table className="results fusion-table" data-testid="fusion-results">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">method</th>
              <th scope="col" title="Share of K heads and of V heads kept (latent KV: share of the numbers cached per token)">
                budget
              </th>
              <th scope="col" title={KV_SHAPE_HEADER.title}>
                {KV_SHAPE_HEADER.text}
              </th>
              <th scope="col" title="Perplexity on the held-out evaluation documents, original → fused">
                perplexity
              </th>
              <th scope="col" title="KV-cache bytes per token (float32 K and V, or latent and rotary key dims, of every layer), original → fused">
                KV bytes/token
              </th>
              <th scope="col" title="Seconds the conversion took: calibration, search, training; not evaluation, not time paused">
                time (s)
              </th>
              <th scope="col" title="Gradient steps: the conversion's own layer-local steps (DHA's, when it takes any) plus end-to-end recovery training">
                steps
              </th>
              <th scope="col" title="Tokens processed by gradient steps">
                train tokens
              </th>
              <th scope="col" title="Calibration tokens read (mean-pool reads none)">
                calib. tokens
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <ResultRowView
                key={r.id}
                row={r}
                n={i + 1}
                canCompare={props.canCompare}
                onCompare={props.onCompare}
                selected={selected === r.id}
                onSelect={() => select(r.id)}
              />
            ))}
          </tbody>
        </table>
      </div>
      <div className="form-row">
        <Field k="fuse.prompt" testId="fusion-compare-prompt" label="Prompt for comparisons" title="The prompt both models continue (greedy)" />
        <Field k="fuse.compareTokens" testId="fusion-compare-tokens" label="tokens" title="Tokens each model generates" />
        {props.comparing && (
          <button type="button" className="secondary" onClick={props.onStop}>
            Stop
          </button>
        )}
      </div>
    </div>
  );
}

function ResultRowView({
  row: r,
  n,
  canCompare,
  onCompare,
  selected,
  onSelect,
}: {
  row: ResultRow;
  n: number;
  canCompare: boolean;
  onCompare: (id: number) => void;
  selected: boolean;
  onSelect: () => void;
}) {
  const c = r.comparison;
  return (
    <>
      <tr
        data-testid="fusion-row"
        data-method={r.method}
        data-budget={r.budget}
        className={selected ? 'selected' : undefined}
        aria-selected={selected}
        tabIndex={0}
        title="Click (or Enter) to draw this result's head layout"
        onClick={onSelect}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && e.target === e.currentTarget) onSelect();
        }}
      >
        <td>{n}</td>
        <td title={r.model}>{r.label}</td>
        <td>{budgetLabel(r.budget)}</td>
        <td className="fusion-counts" data-testid="fusion-row-counts" title={shapeLines(r.perLayer, r.latent).join('\n')}>
          {compactShape(r.perLayer, r.latent)}
        </td>
        <td
          data-testid="fusion-row-ppl"
          data-before={r.pplBefore}
          data-converted={r.pplConverted ?? undefined}
          data-after={r.pplAfter}
          title={`${r.evalTokens.toLocaleString('en')} predicted tokens in ${r.evalDocuments} documents of ${r.evalText}${r.pplConverted !== null ? `; ${r.pplConverted.toFixed(3)} after the conversion, ${r.pplAfter.toFixed(3)} after ${r.recoverySteps} steps of recovery training` : ''}`}
        >
          {r.pplBefore.toFixed(3)} → {r.pplConverted !== null && <>{r.pplConverted.toFixed(3)} → </>}
          <strong>{r.pplAfter.toFixed(3)}</strong>
        </td>
        <td data-testid="fusion-row-kv">
          {r.kvBytesPerTokenBefore.toLocaleString('en')} → {r.kvBytesPerToken.toLocaleString('en')}
          {r.kvCache && (
            <div
              className="hint"
              data-testid="fusion-row-kv-quant"
              title={`Also evaluated through a ${kvQuantLabel(r.kvCache.quant)}: bytes per token at a context of ${r.kvCache.context}, exact values in float32 (16-bit: ${r.kvCache.bytesPerTokenBefore.toFixed(0)} → ${r.kvCache.bytesPerToken.toFixed(0)}); perplexity through it ${r.kvCache.pplBefore?.toFixed(3) ?? '—'} → ${r.kvCache.pplAfter?.toFixed(3) ?? '—'}`}
            >
              {r.kvCache.quant.bits}-bit: {Math.round(r.kvCache.bytesPerTokenBeforeF32).toLocaleString('en')} →{' '}
              {Math.round(r.kvCache.bytesPerTokenF32).toLocaleString('en')}, ppl {r.kvCache.pplAfter?.toFixed(3) ?? '—'}
            </div>
          )}
        </td>
        <td>{r.seconds.toFixed(1)}</td>
        <td
          data-testid="fusion-row-steps"
          title={r.trainSteps ? `${r.ownSteps} own layer-local steps of the conversion, ${r.recoverySteps} end-to-end recovery training` : undefined}
        >
          {r.trainSteps}
        </td>
        <td>{r.trainTokens.toLocaleString('en')}</td>
        <td>{r.calibrationTokens.toLocaleString('en')}</td>
      </tr>
      <tr className="fusion-actions-row" data-testid="fusion-row-actions">
        <td />
        <td colSpan={9}>
          <span className="fusion-files" role="group" aria-label={`Files of run ${n}`}>
            <span className="hint">download</span>
            {r.fileNames.map((f) => (
              <button
                key={f}
                type="button"
                className="secondary"
                onClick={() => void download(r.id, f)}
                data-testid={`fusion-download-${f}`}
                title={`Download ${f} of run ${n}`}
              >
                {f}
              </button>
            ))}
            <button
              type="button"
              className="secondary"
              disabled={!canCompare}
              onClick={() => onCompare(r.id)}
              data-testid="fusion-compare"
              title="Continue the prompt below with the original and with this fused model, side by side (greedy)"
            >
              Compare continuations
            </button>
          </span>
        </td>
      </tr>
      {c && (
        <tr className="fusion-compare-row">
          <td />
          <td colSpan={9}>
            <div className="continuations n2" data-testid="fusion-comparison">
              {(['original', 'fused'] as const).map((which) => (
                <div key={which} className="continuation" data-testid={`fusion-continuation-${which}`}>
                  <div className="hint">
                    {which === 'original' ? `original (${r.model})` : `fused: ${METHOD_NAME[r.method]} at ${budgetLabel(r.budget)}`} — {c[which].tokens} tokens
                    cached, KV cache {formatBytes(c[which].kvCacheBytes)}
                  </div>
                  <p data-testid="fusion-continuation-text">
                    <strong>{c.prompt}</strong>
                    {c[which].text}
                    {!c[which].done && c.running && <span className="cursor">▍</span>}
                  </p>
                  {c[which].error && <p className="error">{c[which].error}</p>}
                </div>
              ))}
            </div>
          </td>
        </tr>
      )}
    </>
  );
}
