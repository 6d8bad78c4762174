// The recipe of a head-sharing conversion (src/fusion/recipe.ts) as a disclosure of the Fuse heads panel: the method is a
// preset of eight independent choices and its own steps (layer-local, or progressive fusion's); the summary spells the recipe out, and each choice can
// be changed on its own ("preset" keeps the method's value), so a student changes one thing and sees what it does.
import { useEffect, useState } from 'react';
import { Field } from '../Field';
import { useSettings } from '../../lab/settingsStore';
import { RECIPE_KEYS, recipeOf } from '../../lab/fuseSettings';
import { changedChoices, HEAD_CHOICES, PRESET_CHOICES, PRESET_NAMES, type HeadPreset, type HeadRecipe } from '../../fusion/recipe';

const STEPS_HINT =
  'Own layer-local steps: after the merge, each layer’s attention is trained to reproduce the original layer’s output (DHA’s stage 3, our reconstruction). ' +
  'They come out of the training budget when recovery training follows. Automatic: DHA takes 100 (20 on a CPU fallback) when nothing else trains, none ' +
  'when recovery training follows (at equal tokens they recovered no better, docs/RESULTS.md); the other presets take none. A count set by hand applies to whichever method is chosen';

export function RecipeFields({ preset, running, fallback }: { preset: HeadPreset; running: boolean; fallback: boolean | null }) {
  const values = useSettings((s) => s.values);
  const training = values['fuse.train.steps'] > 0;
  const recipe = recipeOf(values, { training, fallback: fallback ?? false }) as HeadRecipe;
  const changed = new Set(changedChoices(recipe));
  const base = PRESET_CHOICES[preset];
  // Open while the recipe differs from its preset (a link or a tour step that changes a choice shows it), else as left.
  const differs = changed.size > 0 || !values['fuse.stepsAuto'];
  const [open, setOpen] = useState(differs);
  useEffect(() => {
    if (differs) setOpen(true);
  }, [differs]);
  return (
    <details className="fusion-fields recipe" data-testid="fusion-recipe" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary title="The method is a preset of these choices: open to change one">
        The recipe: <strong>{PRESET_NAMES[preset]}</strong>
        {' — '}
        <span data-testid="fusion-recipe-summary">
          {HEAD_CHOICES.map((c, i) => (
            <span key={c.key} className={changed.has(c.key) ? 'changed' : undefined} title={c.help}>
              {i ? ' · ' : ''}
              {changed.has(c.key) ? <strong>{c.words[recipe[c.key]]}</strong> : c.words[recipe[c.key]]}
            </span>
          ))}
          {` · ${recipe.ownSteps} ${recipe.fusion === 'progressive' ? 'fusion' : 'own'} step${recipe.ownSteps === 1 ? '' : 's'}`}
        </span>
      </summary>
      <fieldset disabled={running}>
        <p className="hint">
          Each choice on its own; “as {PRESET_NAMES[preset]}” keeps the method’s value. A combination that cannot run says why when you press Run.
        </p>
        <div className="form-row recipe-choices">
          {HEAD_CHOICES.map((c) => (
            <Field
              key={c.key}
              k={RECIPE_KEYS[c.key]}
              testId={`fusion-${c.flag}`}
              label={c.title}
              title={c.help}
              options={{ preset: `as ${PRESET_NAMES[preset]} (${c.words[base[c.key]]})`, ...c.words }}
            />
          ))}
        </div>
        <div className="form-row">
          <Field
            k="fuse.steps"
            testId="fusion-steps"
            label="own steps"
            disabled={values['fuse.stepsAuto']}
            title={values['fuse.stepsAuto'] ? `${STEPS_HINT}. Untick “automatic” to choose.` : STEPS_HINT}
          />
          <Field k="fuse.stepsAuto" testId="fusion-steps-auto" title={`${STEPS_HINT} (now ${recipe.ownSteps})`} />
          <Field k="fuse.seed" testId="fusion-seed" title="Order of the calibration batches (own steps and recovery): the same seed gives the same weights" />
          <Field
            k="fuse.tokensPerStep"
            testId="fusion-tokens-per-step"
            label="tokens per own step"
            title="Calibration tokens each own step sees (sequences × sequence length)"
          />
          <Field k="fuse.seqLen" testId="fusion-seq-len" label="sequence length" title="Tokens per own-step sequence (at most the model's context)" />
          {fallback ? <span className="hint">(small defaults: this adapter is a CPU fallback)</span> : null}
        </div>
        {recipe.fusion === 'progressive' && (
          <div className="form-row" data-testid="fusion-progressive-fields">
            <Field
              k="fuse.fusionTrains"
              testId="fusion-trains"
              title="Progressive fusion: what trains beside the fusion operators — the operators alone, or every weight of the model too"
              options={{ operators: 'the operators only', all: 'every weight too' }}
            />
            <Field
              k="fuse.operatorLr"
              testId="fusion-operator-lr"
              title="Adam learning rate of the fusion operators (it falls to 0 over the steps along a cosine)"
            />
            <span className="hint">The own steps are fusion steps: each a training step of “tokens per own step”, end to end.</span>
          </div>
        )}
      </fieldset>
    </details>
  );
}
