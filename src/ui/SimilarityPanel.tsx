// Head similarity heatmaps: one row per layer, K heads and V heads side by side, filling in as each layer is computed.
import { useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useSimilarity } from '../lab/similarityStore';
import { METRICS, type SimilarityMetric } from '../analysis/similarity';
import { Heatmap, HeatmapLegend } from './charts/Heatmap';
import { similarityCsv, similarityJson, type SimilarityExport } from '../analysis/export';

function download(name: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;

const METRIC_TEXT: Record<SimilarityMetric, string> = {
  'weight-cosine': '|cosine| between the two heads\' flattened projection weights (no text needed)',
  cka: 'linear CKA between the heads\' outputs on the calibration text (centred; 1 = the same up to a linear map that preserves angles)',
  aligned:
    'how alike the heads\' outputs are after the best rotation of one onto the other: any orthogonal map for V; for K one rotation per rotary plane, so RoPE still holds',
};

export function SimilarityPanel() {
  const loaded = useModel((s) => s.loaded);
  const { running, stage, layers, error, model, tokens, metric: shownMetric, run, cancel } = useSimilarity();
  const [metric, setMetric] = useState<SimilarityMetric>('cka');
  const [maxTokens, setMaxTokens] = useState(2048);
  if (!loaded) return null;
  const start = async () => {
    const text = metric === 'weight-cosine' ? '' : await (await fetch(SAMPLE_URL)).text();
    void run(loaded, metric, text, maxTokens);
  };
  return (
    <section className="panel" aria-labelledby="sim-title" data-testid="similarity-panel">
      <h2 id="sim-title">Head similarity</h2>
      <p className="hint">
        Which key heads and which value heads of each layer are alike — the heads that can share one KV head at little cost.
      </p>
      <div className="form-row">
        <label>
          Metric{' '}
          <select value={metric} onChange={(e) => setMetric(e.target.value as SimilarityMetric)} data-testid="sim-metric">
            {METRICS.map((m) => (
              <option key={m} value={m} title={METRIC_TEXT[m]}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label title="Calibration: the first N tokens of the built-in TinyStories sample">
          tokens <input type="number" min={16} value={maxTokens} onChange={(e) => setMaxTokens(Number(e.target.value))} data-testid="sim-tokens" />
        </label>
        <button type="button" onClick={() => void start()} disabled={running} data-testid="sim-run">
          Compute
        </button>
        {running && (
          <button type="button" className="secondary" onClick={cancel}>
            Cancel
          </button>
        )}
        <HeatmapLegend />
      </div>
      <p className="hint">{METRIC_TEXT[metric]}</p>
      {running && <p role="status">Computing… {stage}</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {layers.length > 0 && (
        <>
          <p className="hint" data-testid="sim-summary">
            {shownMetric} of {model}
            {tokens ? ` on ${tokens} calibration tokens` : ''}; heads in their original order.
          </p>
          {!running && (
            <div className="actions">
              {(['json', 'csv'] as const).map((fmt) => (
                <button
                  key={fmt}
                  type="button"
                  className="secondary"
                  data-testid={`sim-export-${fmt}`}
                  title={`The numbers as ${fmt.toUpperCase()}`}
                  onClick={() => {
                    const e: SimilarityExport = { metric: shownMetric, model: model ?? '', tokens, layers: layers.map((l) => ({ k: l.k, v: l.v })) };
                    const base = `${(model ?? 'model').replace(/[^\w.-]+/g, '_')}-${shownMetric}`;
                    if (fmt === 'json') download(`${base}.json`, similarityJson(e), 'application/json');
                    else download(`${base}.csv`, similarityCsv(e), 'text/csv');
                  }}
                >
                  Export {fmt.toUpperCase()}
                </button>
              ))}
            </div>
          )}
          <div className="heatmap-grid" data-testid="heatmap-grid">
            <div className="heatmap-head">layer</div>
            <div className="heatmap-head">K heads</div>
            <div className="heatmap-head">V heads</div>
            {layers.map((l) => (
              <div key={l.layer} className="heatmap-row" data-testid="heatmap-row">
                <div className="heatmap-layer">{l.layer}</div>
                <Heatmap matrix={l.k} label={`layer ${l.layer}, K`} />
                <Heatmap matrix={l.v} label={`layer ${l.layer}, V`} />
              </div>
            ))}
          </div>
        </>
      )}
    </section>
  );
}
