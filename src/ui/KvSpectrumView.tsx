// The K/V spectrum in the Head similarity panel: per layer, the share of its stacked K/V projection weights' energy that the
// best k directions keep, with a dot at the latent width d_c that the Fuse panel's KV budget would give the layer — how much
// rank each layer needs for a latent KV cache (MLA), against how much the budget gives it. Weights only: no calibration text.
import { useRef } from 'react';
import type { ModelHandle } from '../lab/compute/protocol';
import { useSpectrum } from '../lab/spectrumStore';
import { useSettings } from '../lab/settingsStore';
import { budgetLabel } from '../lab/fusionStore';
import { fuseBudget } from '../lab/fuseSettings';
import { ChartFrame } from './charts/ChartFrame';
import { SpectrumChart } from './charts/SpectrumChart';
import { GlossaryLink } from './Glossary';

/** What the curve is, for "What the numbers mean" and the button's tooltip. */
export const SPECTRUM_DEFINITION =
  "The singular values σ₁ ≥ σ₂ ≥ … of a layer's K and V projection rows stacked into one matrix [W_k ; W_v] ((K heads + V heads) × d_h rows, as many columns as the model is wide), from the weights alone. The curve is kept(k) = (σ₁² + … + σ_k²) / Σ σ_i²: the share of the stack's squared Frobenius norm that its best rank-k approximation keeps (Eckart–Young) — its energy if every input direction counted equally, unlike the energy of head outputs on text. The stack has at most as many independent directions as the model is wide, so every curve reaches 100 % by then; a curve that rises steeply belongs to a layer whose heads’ rows together span few directions — they share most of theirs — so a narrow latent loses little there.";

/** What the dot is. */
export const LATENT_WIDTH_DEFINITION =
  'd_c at a KV budget b: each layer may cache b × (K heads + V heads) × d_h numbers per token — the bytes the head methods keep at b. The kept rotary pairs take 2r of them per K head (by default as many as fit in half the budget — MHA2MLA keeps an eighth of a head’s pairs); the latent gets the rest, at most the model width. The dot reads the curve at d_c. A guide, not the conversion’s loss: the conversion factors only the key dims that lose RoPE, with the values (the kept rotary dims are cached whole), and by default weighs the error by the calibration activations.';

export function KvSpectrumView({ loaded }: { loaded: ModelHandle }) {
  const budget = useSettings((s) => fuseBudget(s.values));
  const { running, modelId, model, budget: shownBudget, totalLayers, layers, error, run, cancel } = useSpectrum();
  const chart = useRef<SVGSVGElement>(null);
  const mine = modelId === loaded.id;
  const problems = mine ? layers.flatMap((l) => ('problem' in l.latent ? [`layer ${l.layer}: ${l.latent.problem}`] : [])) : [];
  const fileBase = `${(model ?? 'model').replace(/[^\w.-]+/g, '_')}-kv-spectrum`;
  return (
    <div data-testid="spectrum-view">
      <div className="form-row">
        <button
          type="button"
          className="secondary"
          onClick={() => void run(loaded, budget)}
          disabled={running}
          data-testid="spectrum-run"
          title={`${SPECTRUM_DEFINITION} The dots: ${LATENT_WIDTH_DEFINITION}`}
        >
          Compute the K/V spectrum
        </button>
        {running && (
          <button type="button" className="secondary" onClick={cancel}>
            Cancel
          </button>
        )}
        <span className="hint">
          How much rank each layer’s keys and values need — the question a <GlossaryLink term="latent">latent</GlossaryLink> KV cache asks. From the weights
          alone: no calibration text.
        </span>
      </div>
      {running && (
        <p role="status" data-testid="spectrum-status">
          Computing… layer {Math.min(layers.length + 1, totalLayers)} of {totalLayers}
        </p>
      )}
      {error && mine && (
        <p className="error" role="alert" data-testid="spectrum-error">
          {error}
        </p>
      )}
      {mine && layers.length > 0 && (
        <>
          <ChartFrame
            title="K/V spectrum: how much rank each layer needs"
            hint="Hover a curve or a dot for its numbers."
            target={chart}
            name={fileBase}
            view="K/V spectrum"
            exportTestId="spectrum-export"
            testId="spectrum"
            logSwitch={false}
          >
            {() => (
              <SpectrumChart
                ref={chart}
                layers={layers}
                total={totalLayers}
                budget={budgetLabel(shownBudget)}
                caption={[
                  'K/V spectrum: energy of the stacked K/V weights kept by the best k directions',
                  `${model} · dots: the latent width d_c at a KV budget of ${budgetLabel(shownBudget)}`,
                ]}
              />
            )}
          </ChartFrame>
          <p className="hint" data-testid="spectrum-text">
            Each curve is one layer: the share of its stacked K and V weights that the best k directions keep. The dot is the latent width d_c that a budget of{' '}
            {budgetLabel(shownBudget)} (the Fuse panel’s) leaves once every K head’s kept <GlossaryLink term="partial-rope">rotary pairs</GlossaryLink> are
            counted: the <GlossaryLink term="kv-bytes">KV bytes per token</GlossaryLink> the head methods keep at that budget (fewer where the latent reaches
            the model width). (Definitions under “What the numbers mean”.)
          </p>
          {Math.abs(shownBudget - budget) > 1e-9 && !running && (
            <p className="notice" data-testid="spectrum-stale">
              The Fuse panel’s budget is now {budgetLabel(budget)}; the dots are for {budgetLabel(shownBudget)}. Compute again to move them.
            </p>
          )}
          {problems.length > 0 && (
            <p className="notice" data-testid="spectrum-problems">
              No latent fits at {budgetLabel(shownBudget)} in {problems.join('; ')}
            </p>
          )}
        </>
      )}
    </div>
  );
}
