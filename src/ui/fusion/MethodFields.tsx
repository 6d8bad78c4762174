// The Fuse heads panel's settings of the chosen method: a head-sharing preset's recipe (fusion/RecipeFields.tsx), or latent
// KV's (MLA) rotary pairs and latent fit.
import type { FusionMethod } from '../../fusion/fuse';
import type { LatentInit, RopeSelect } from '../../fusion/mlaDefaults';
import { Field } from '../Field';
import { useSettings } from '../../lab/settingsStore';
import { RecipeFields } from './RecipeFields';

/** What each choice of rotary pairs keeps, for the select. */
const ROPE_SELECT_NAMES = {
  norm: 'the strongest (norm)',
  high: 'the fastest-turning',
  low: 'the slowest-turning',
  uniform: 'spread evenly',
} satisfies Record<RopeSelect, string>;

const LATENT_INIT_NAMES = { weights: 'the weights (SVD)', activations: 'the calibration activations' } satisfies Record<LatentInit, string>;

const ROPE_SELECT_TITLE =
  'Rotary position encoding (RoPE) turns each pair of a head’s dims — a rotary pair — by an angle that grows with the token’s position; the first pairs ' +
  'turn fastest. Latent KV keeps the rotation on only a few pairs of each K head, cached as they are beside the latent; on the other pairs queries and keys ' +
  'stop rotating, so those dims can be squeezed into the latent. Which pairs keep it: “norm” picks, per K head, the pairs whose queries and keys are ' +
  'largest on average on the calibration text — the ones attention leans on most (MHA2MLA’s best choice); the others are fixed picks that need no text.';

const LATENT_INIT_TITLE =
  'How the latent is fitted. Each layer’s key dims that no longer rotate and its values are squeezed through one latent of d_c numbers. “weights”: the best ' +
  'rank-d_c approximation of the projection weights themselves (a truncated SVD), blind to the data. “activations”: the best rank-d_c approximation of the ' +
  'keys and values the model actually computes on the calibration text (keys and values first scaled to equal size), so directions the text never uses cost ' +
  'nothing (TransMLA, Palu).';

const ROPE_PAIRS_TITLE =
  'Rotary pairs each K head keeps (0: none, so keys carry no position at all). Each layer ' +
  'caches d_c + 2 × pairs × K heads numbers per token, d_c the latent’s width: in the same budget, more pairs keep more position and leave a narrower latent.';

const ROPE_AUTO_TITLE =
  'Let the budget choose the rotary pairs: as many as fit in half of it, the other half going to the latent (all of them at 100 %, so the conversion is then exact; ' +
  'after training, on tinystories-mha half the budget beat an eighth and a quarter of the pairs at 25 % and a quarter at 50 %; on stories260K at 50 % three of four pairs did better than the default two; at 25 % half the budget is a quarter of the pairs — docs/RESULTS.md, “Latent KV”)';

export function MethodFields({ method, running, fallback }: { method: FusionMethod; running: boolean; fallback: boolean | null }) {
  const ropeAuto = useSettings((s) => s.values['fuse.ropeAuto']);
  if (method !== 'mla') return <RecipeFields preset={method} running={running} fallback={fallback} />;
  return (
    <fieldset className="fusion-fields" disabled={running} data-testid="fusion-mla-fields">
      <legend>Latent KV (MLA)</legend>
      <div className="form-row">
        <Field k="fuse.ropeSelect" testId="fusion-rope-select" options={ROPE_SELECT_NAMES} title={ROPE_SELECT_TITLE} />
        <Field
          k="fuse.ropePairs"
          testId="fusion-rope-pairs"
          label="rotary pairs"
          suffix=" per K head"
          disabled={ropeAuto}
          title={ropeAuto ? `${ROPE_PAIRS_TITLE} Untick “automatic” to choose.` : ROPE_PAIRS_TITLE}
        />
        <Field k="fuse.ropeAuto" testId="fusion-rope-auto" title={ROPE_AUTO_TITLE} />
        <Field k="fuse.latentInit" testId="fusion-latent-init" options={LATENT_INIT_NAMES} title={LATENT_INIT_TITLE} />
      </div>
      <p className="hint">
        No head is merged: the KV budget sets how many numbers each layer caches per token, shared between the latent and the kept rotary dims.
      </p>
    </fieldset>
  );
}
