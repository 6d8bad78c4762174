// The guided tour: short steps over the loaded model, every conversion at one budget (25 % of the KV cache), each step
// changing one thing against the step it names (the one before it, unless it says otherwise) and offering the one action it
// explains; the steps themselves are data in tour/steps.tsx. Its step is in the page address (tour=N), so a teacher can link
// to a step; closed, it can be resumed. Without WebGPU nothing can run: the tour walks the worked example instead, each step
// at the example's matching part, with no actions.
import { useEffect } from 'react';
import { useSettings } from '../lab/settingsStore';
import { useGpu } from '../lab/gpuStore';
import { useModel } from '../lab/modelStore';
import { useExample } from './example/common';
import { BUDGET, STEPS, type ModelFacts } from './tour/steps';

const LAST = 'headlab.tourStep';

/** The facts of the loaded model, or of the worked example's model without WebGPU. */
function useFacts(example: boolean): ModelFacts | null {
  const card = useModel((s) => s.card);
  const name = useModel((s) => s.loaded?.name ?? null);
  const ex = useExample(example);
  if (example) {
    const m = ex.data?.model;
    if (!m) return null;
    // The worked example runs on the built-in demo: a byte-level llama2.c model with rotary positions.
    return {
      name: m.name,
      layers: m.layers,
      heads: m.heads,
      headDim: m.headDim,
      kv: m.layouts.map((l) => ({ k: l.kHeads, v: l.vHeads })),
      kvBytes: m.kvBytesPerToken,
      rotary: true,
      bytes: true,
    };
  }
  if (!card) return null;
  return {
    name: name ?? 'The loaded model',
    layers: card.layers,
    heads: card.heads,
    headDim: card.headDim,
    kv: card.kvHeads,
    kvBytes: card.kvBytesPerToken,
    rotary: card.positional.startsWith('rotary'),
    bytes: card.vocab <= 260,
  };
}

export function Tour() {
  const step = useSettings((s) => s.tour);
  const setTour = useSettings((s) => s.setTour);
  const example = useGpu((s) => s.status === 'error');
  const fallback = useGpu((s) => s.summary?.isFallbackAdapter ?? true);
  const loaded = useModel((s) => s.loaded !== null);
  const facts = useFacts(example);
  const exampleRuns = useExample(example).data?.runs;
  const current = step > 0 ? STEPS[Math.min(step, STEPS.length) - 1] : null;
  const target = current ? (example ? current.exampleTarget : current.target) : null;
  // The panels exist once the model has loaded, the example's parts once it has arrived: the highlight waits for them.
  const ready = example ? facts !== null : loaded;
  useEffect(() => {
    if (!target) return;
    try {
      localStorage.setItem(LAST, String(step));
    } catch {
      /* storage may be off: resuming then starts over */
    }
    if (!ready) return;
    const el = document.getElementById(target);
    el?.classList.add('tour-target');
    el?.scrollIntoView({ behavior: 'smooth', block: 'start' });
    return () => el?.classList.remove('tour-target');
  }, [target, step, ready]);
  if (!current) return null;
  const action = example ? undefined : current.action;
  const act = () => {
    if (!action) return;
    for (const [k, v] of Object.entries(action.settings?.(fallback) ?? {})) useSettings.getState().set(k, v);
    // Press the panel's own button, after React has shown the new settings: the same path as a user's click.
    setTimeout(() => (document.querySelector(`[data-testid="${action.press}"]`) as HTMLButtonElement | null)?.click(), 50);
  };
  return (
    <aside className="tour" role="dialog" aria-labelledby="tour-title" data-testid="tour" data-mode={example ? 'example' : 'lab'} data-target={target ?? ''}>
      <p className="hint" data-testid="tour-step" data-step={step}>
        Tour · step {step} of {STEPS.length}
        {example ? ' · on the worked example (this browser cannot run the lab)' : ''}
      </p>
      <h2 id="tour-title">{current.title}</h2>
      <p data-testid="tour-text">{current.text({ facts, example, exampleMethods: exampleRuns?.map((r) => r.method) ?? [] })}</p>
      <div className="actions">
        {action && (
          <button type="button" onClick={act} disabled={!loaded} title={loaded ? undefined : 'Waiting for the model to load'} data-testid="tour-action">
            {action.label}
          </button>
        )}
        <button type="button" className="secondary" onClick={() => setTour(step - 1)} disabled={step <= 1} data-testid="tour-back">
          Back
        </button>
        {step < STEPS.length ? (
          <button type="button" className="secondary" onClick={() => setTour(step + 1)} data-testid="tour-next">
            Next
          </button>
        ) : (
          <button type="button" className="secondary" onClick={() => setTour(0)} data-testid="tour-next">
            Finish
          </button>
        )}
        <button type="button" className="secondary" onClick={() => setTour(0)} data-testid="tour-close" title="Close the tour (Take the tour resumes it)">
          Close
        </button>
      </div>
    </aside>
  );
}

/** Starts the tour, or resumes it at the step it was closed on. */
export function TourButton() {
  const step = useSettings((s) => s.tour);
  const setTour = useSettings((s) => s.setTour);
  if (step > 0) return null;
  let last = 0;
  try {
    last = Number(localStorage.getItem(LAST) ?? 0);
  } catch {
    last = 0;
  }
  const resume = last > 0 && last < STEPS.length;
  return (
    <button
      type="button"
      onClick={() => setTour(resume ? last : 1)}
      data-testid="tour-start"
      title={`${STEPS.length} short steps at one budget (${BUDGET} %), each changing one thing: the KV cache, which heads are alike, mean-pool, alignment, renormalisation, DHA's allocation, K and V decoupled, DHA's own training, a latent KV cache, recovery at equal tokens, the trade-off`}
    >
      {resume ? `Resume the tour (step ${last})` : 'Take the tour'}
    </button>
  );
}
