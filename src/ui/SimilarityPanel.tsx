// Head similarity: one row of heatmaps per layer (K heads and V heads side by side, Q heads on request), filling in as each
// layer is computed; heads ordered by clustering or kept in their original order; click or Enter opens a layer large;
// redundancy per layer as bars; the K/V spectrum (KvSpectrumView, weights only); every view exports as SVG and PNG, the
// numbers as JSON and CSV.
import { useMemo, useRef, useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useSimilarity } from '../lab/similarityStore';
import { METRICS, type SimilarityMetric } from '../analysis/similarity';
import { useSettings, usePanelHidden } from '../lab/settingsStore';
import { Field } from './Field';
import { clusterOrder } from '../analysis/cluster';
import { SimilarityGrid, type Kind } from './charts/SimilarityGrid';
import { RedundancyBars, type RedundancyLayer } from './charts/RedundancyBars';
import { HeatmapDialog } from './charts/HeatmapDialog';
import { ExportButtons } from './charts/ExportButtons';
import { downloadBlob } from './charts/exportImage';
import { similarityCsv, similarityJson, type SimilarityExport } from '../analysis/export';
import { GlossaryLink } from './Glossary';
import { KvSpectrumView, LATENT_WIDTH_DEFINITION, SPECTRUM_DEFINITION } from './KvSpectrumView';

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;

/** One line per metric, shown under the picker. */
const METRIC_TEXT: Record<SimilarityMetric, string> = {
  'weight-cosine': "|cosine| between the two heads' flattened projection weights (no text needed)",
  cka: "linear CKA between the heads' outputs on the calibration text (centred; 1 = the same up to any orthogonal map and a scale — more freedom than a merge has for K heads, which may only turn within rotary planes: see aligned)",
  aligned:
    "how alike the heads' outputs are after the best rotation of one onto the other: any orthogonal map for V; for K one rotation per rotary plane, so RoPE still holds",
};

/** The definitions, as formulas: in the "What the numbers mean" box and the picker's tooltip. */
const METRIC_DEFINITION: Record<SimilarityMetric, string> = {
  'weight-cosine':
    "s(i, j) = |⟨W_i, W_j⟩| / (‖W_i‖ ‖W_j‖), with W_h head h's projection weights (head_dim × model dim) flattened. Needs no text; blind to rotations, so two heads that compute the same thing in rotated coordinates can score low.",
  cka: "s(i, j) = ‖Y_iᵀY_j‖²_F / (‖Y_iᵀY_i‖_F ‖Y_jᵀY_j‖_F), with Y_h = X W_hᵀ head h's outputs on the calibration tokens, centred — computed from the Gram XᵀX, never storing Y. 1: the outputs agree up to an orthogonal map (any rotation or reflection of the head's space) and a scale. A merge may turn V heads so, but K heads only within each rotary plane (RoPE): a K pair near 1 may still merge badly — the aligned metric counts only the allowed rotations.",
  aligned:
    's(i, j) = max over rotations R of ⟨Y_i, Y_j R⟩ / (‖Y_i‖_F ‖Y_j‖_F): for V any orthogonal R (the nuclear norm of Y_iᵀY_j); for Q and K one 2×2 rotation per rotary plane, the only rotations RoPE allows. 1: one head is the other rotated, so one merged head can serve both.',
};

const REDUNDANCY_DEFINITION =
  "The share of the layer's K (or V) output energy Σ_h ‖Y_h‖² lost when its closest pair of heads is replaced by their mean, without alignment (GQA mean-pooling of that one pair): min over pairs i < j of ‖Y_i − Y_j‖² / (2 Σ_h ‖Y_h‖²), from the calibration Grams — the same whichever metric is picked. 0: two heads are identical; orthogonal heads of equal energy: 1/H. Lower bars, more redundant heads — but a weak head (little energy) looks cheap to merge whatever it computes, and aligning first (the aligned merge) loses less.";

const ORDER_DEFINITION =
  'Heads are ordered by average-linkage clustering on 1 − similarity (each heatmap on its own), so that alike heads sit next to each other; labels and tooltips always give the original head indices.';

export function SimilarityPanel() {
  const hiddenPanel = usePanelHidden('similarity');
  const loaded = useModel((s) => s.loaded);
  const { running, stage, layers, error, model, tokens, totalLayers, metric: shownMetric, run, cancel } = useSimilarity();
  const metric = useSettings((s) => s.values['sim.metric']);
  const maxTokens = useSettings((s) => s.values['sim.tokens']);
  const showQ = useSettings((s) => s.values['sim.q']);
  const keepOrder = useSettings((s) => s.values['sim.originalOrder']);
  const [open, setOpen] = useState<{ layer: number; kind: Kind } | null>(null);
  const grid = useRef<SVGSVGElement>(null);
  const bars = useRef<SVGSVGElement>(null);
  const orders = useMemo(() => {
    const m = new Map<string, number[]>();
    for (const l of layers) for (const k of ['q', 'k', 'v'] as const) m.set(`${l.layer}${k}`, clusterOrder(l[k]));
    return m;
  }, [layers]);
  if (!loaded || hiddenPanel) return null;
  const start = async () => {
    setOpen(null);
    const text = metric === 'weight-cosine' ? '' : await (await fetch(SAMPLE_URL)).text();
    void run(loaded, metric, text, maxTokens);
  };
  const orderOf = (layer: number, kind: Kind) => (keepOrder ? undefined : orders.get(`${layer}${kind}`));
  const kinds: Kind[] = showQ ? ['k', 'v', 'q'] : ['k', 'v'];
  const fileBase = `${(model ?? 'model').replace(/[^\w.-]+/g, '_')}-${shownMetric}`;
  const source = `${model ?? ''}${tokens ? ` · ${tokens} calibration tokens` : ''}`;
  const caption = [`${shownMetric} similarity · ${keepOrder ? 'original head order' : 'heads ordered by clustering'}`, source];
  const redundancy: RedundancyLayer[] = layers.flatMap((l) => (l.redundancy ? [{ layer: l.layer, ...l.redundancy }] : []));
  const openLayer = open ? layers.find((l) => l.layer === open.layer) : undefined;
  const exportNumbers = (fmt: 'json' | 'csv') => {
    const e: SimilarityExport = {
      metric: shownMetric,
      model: model ?? '',
      tokens,
      layers: layers.map((l) => ({
        q: l.q,
        k: l.k,
        v: l.v,
        redundancy: l.redundancy && {
          k: { loss: l.redundancy.k.loss, pair: l.redundancy.k.pair },
          v: { loss: l.redundancy.v.loss, pair: l.redundancy.v.pair },
        },
      })),
    };
    if (fmt === 'json') downloadBlob(`${fileBase}.json`, new Blob([similarityJson(e)], { type: 'application/json' }));
    else downloadBlob(`${fileBase}.csv`, new Blob([similarityCsv(e)], { type: 'text/csv' }));
  };
  return (
    <section id="similarity" className="panel" aria-labelledby="sim-title" data-testid="similarity-panel">
      <h2 id="sim-title">Head similarity</h2>
      <p className="hint">Which key heads and which value heads of each layer are alike — the heads that can share one KV head at little cost.</p>
      <div className="form-row">
        <Field k="sim.metric" testId="sim-metric" label="Metric" title={`${metric}: ${METRIC_DEFINITION[metric]}`} />
        <Field k="sim.tokens" testId="sim-tokens" label="tokens" title="Calibration: the first N tokens of the built-in TinyStories sample" />
        <button type="button" onClick={() => void start()} disabled={running} data-testid="sim-run">
          Compute
        </button>
        {running && (
          <button type="button" className="secondary" onClick={cancel}>
            Cancel
          </button>
        )}
      </div>
      <p className="hint" id="sim-metric-text" data-testid="sim-metric-text">
        <strong>{metric}</strong>: {METRIC_TEXT[metric]}.
      </p>
      <details className="sim-definitions" data-testid="sim-definitions">
        <summary>What the numbers mean</summary>
        <dl>
          {METRICS.map((m) => (
            <div key={m}>
              <dt>{m}</dt>
              <dd>{METRIC_DEFINITION[m]}</dd>
            </div>
          ))}
          <div>
            <dt>redundancy</dt>
            <dd>{REDUNDANCY_DEFINITION}</dd>
          </div>
          <div>
            <dt>head order</dt>
            <dd>{ORDER_DEFINITION}</dd>
          </div>
          <div>
            <dt>K/V spectrum</dt>
            <dd>{SPECTRUM_DEFINITION}</dd>
          </div>
          <div>
            <dt>latent width d_c (the dots)</dt>
            <dd>{LATENT_WIDTH_DEFINITION}</dd>
          </div>
        </dl>
        <p className="hint">Every similarity is in [0, 1] (1 on the diagonal); one colour scale serves all heatmaps.</p>
        <p className="hint" data-testid="sim-glossary">
          Words used above, defined in the Glossary at the end of the page: <GlossaryLink term="gram">Gram</GlossaryLink>,{' '}
          <GlossaryLink term="energy">energy</GlossaryLink>, <GlossaryLink term="rotary-plane">rotary plane</GlossaryLink>,{' '}
          <GlossaryLink term="gpa">GPA</GlossaryLink>, <GlossaryLink term="cka">CKA</GlossaryLink>, <GlossaryLink term="latent">latent and d_c</GlossaryLink>,{' '}
          <GlossaryLink term="partial-rope">rotary pair</GlossaryLink>, <GlossaryLink term="kv-bytes">KV bytes per token</GlossaryLink>.
        </p>
      </details>
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
            {tokens ? ` on ${tokens} calibration tokens` : ''}; {keepOrder ? 'heads in their original order' : 'heads ordered by clustering'}.
          </p>
          <div className="form-row">
            <Field
              k="sim.q"
              testId="sim-show-q"
              className="sim-check"
              label="show Q heads (for teaching)"
              title="Query heads are not merged by KV fusion; they are shown to compare with K and V"
            />
            <Field k="sim.originalOrder" testId="sim-original-order" className="sim-check" label="keep the original head order" title={ORDER_DEFINITION} />
            {!running && (
              <span className="actions">
                {(['json', 'csv'] as const).map((fmt) => (
                  <button
                    key={fmt}
                    type="button"
                    className="secondary"
                    data-testid={`sim-export-${fmt}`}
                    title={`The numbers as ${fmt.toUpperCase()}`}
                    onClick={() => exportNumbers(fmt)}
                  >
                    Export {fmt.toUpperCase()}
                  </button>
                ))}
              </span>
            )}
          </div>
          <div className="sim-view-head">
            <h3>Heatmaps</h3>
            <span className="hint">Click a heatmap, or Tab to it and press Enter, to open it large.</span>
            <ExportButtons target={grid} name={`${fileBase}-heatmaps`} view="heatmaps" testId="sim-export-grid" />
          </div>
          <div className="sim-scroll">
            <SimilarityGrid ref={grid} layers={layers} kinds={kinds} orderOf={orderOf} caption={caption} onOpen={(layer, kind) => setOpen({ layer, kind })} />
          </div>
          <div className="sim-view-head">
            <h3 title={REDUNDANCY_DEFINITION}>Redundancy per layer</h3>
            {redundancy.length > 0 && <ExportButtons target={bars} name={`${fileBase}-redundancy`} view="redundancy bars" testId="sim-export-redundancy" />}
          </div>
          <p className="hint" data-testid="sim-redundancy-text" title={REDUNDANCY_DEFINITION}>
            For each layer, the share of its K (or V) output <GlossaryLink term="energy">energy</GlossaryLink> lost when its closest pair of heads is averaged{' '}
            <em>without</em> alignment — lower bars, more redundant heads, though weak heads look cheap; hover a bar for the pair. (Definition under “What the
            numbers mean”.)
          </p>
          {redundancy.length > 0 ? (
            <div className="sim-scroll">
              <RedundancyBars
                ref={bars}
                layers={redundancy}
                total={totalLayers}
                caption={['Redundancy: energy lost merging the closest pair of heads', source]}
              />
            </div>
          ) : (
            !running && (
              <p className="notice" data-testid="sim-redundancy-none">
                Redundancy is measured on the heads' outputs, so it needs the calibration pass: compute with cka or aligned.
              </p>
            )
          )}
        </>
      )}
      <KvSpectrumView loaded={loaded} />
      {open && openLayer && (
        <HeatmapDialog
          key={`${open.layer}${open.kind}`}
          layer={open.layer}
          kind={open.kind}
          matrix={openLayer[open.kind]}
          order={orderOf(open.layer, open.kind)}
          caption={caption}
          redundancy={open.kind === 'q' ? undefined : openLayer.redundancy?.[open.kind]}
          fileBase={fileBase}
          onClose={() => setOpen(null)}
        />
      )}
    </section>
  );
}
