// The guided tour: eight short steps over the built-in demo, each pointing at the panel it talks about and offering the one
// action it explains. Its step is in the page address (tour=N), so a teacher can link to a step; closed, it can be resumed.
import { useEffect } from 'react';
import { useSettings } from '../lab/settingsStore';
import type { Value } from '../lab/settings';

interface TourStep {
  target: string;
  title: string;
  text: string;
  action?: { label: string; settings?: Record<string, Value>; press: string };
}

const STEPS: TourStep[] = [
  {
    target: 'model',
    title: 'What the KV cache costs',
    text: 'While a model generates, every layer keeps the key (K) and value (V) vectors of every earlier token: the KV cache. Its size grows with K and V heads × head size × layers — the head layout below draws which K and V head each query head reads. Here: 8 query heads, 8 K and 8 V heads per layer (multi-head attention, MHA).',
  },
  {
    target: 'similarity',
    title: 'Heads as subspaces',
    text: 'Each head projects the layer input into its own small subspace. Heads whose outputs are alike can share one K/V head at little cost. CKA compares two heads’ outputs on real text, up to a rotation and scale.',
    action: { label: 'Compute CKA similarity', settings: { 'sim.metric': 'cka' }, press: 'sim-run' },
  },
  {
    target: 'fuse',
    title: 'GQA mean-pool',
    text: 'Grouped-query attention (Ainslie et al., 2023) shares one K/V head per group of query heads; converting an MHA checkpoint averages each group’s K and V weights. Cheap, but heads that compute similar things in different coordinates cancel out when averaged.',
    action: { label: 'Fuse with mean-pool at 50 %', settings: { 'fuse.method': 'meanpool', 'fuse.budget': '50' }, press: 'fusion-run' },
  },
  {
    target: 'fuse',
    title: 'Align before you average',
    text: 'A head’s V output can be rotated freely if its output projection is rotated back; K heads can be rotated within each rotary plane. The aligned merge (Jin et al., Align-heads) rotates a group’s heads onto each other first — the model computes the same function — and only then averages. Compare its row with mean-pool’s.',
    action: { label: 'Fuse with the aligned merge at 50 %', settings: { 'fuse.method': 'aligned', 'fuse.budget': '50' }, press: 'fusion-run' },
  },
  {
    target: 'fuse',
    title: 'DHA: decoupled K and V budgets',
    text: 'Decoupled-Head Attention (Chen et al., NeurIPS 2024) lets every layer keep its own number of K heads and of V heads, where merging costs least, then trains the fused heads. In this lab: a search by merge cost, the aligned merge, and layer-by-layer training of the fused attention (our reconstruction). Watch the budget bars and the head layout: K and V maps differ.',
    action: { label: 'Fuse with DHA at 25 %', settings: { 'fuse.method': 'dha', 'fuse.budget': '25' }, press: 'fusion-run' },
  },
  {
    target: 'recover',
    title: 'Recovery training',
    text: 'A converted model recovers with training toward the original (distillation). The race trains every method’s result the same way and draws held-out perplexity against training tokens: which starting point recovers fastest?',
    action: { label: 'Run the race', press: 'race-run' },
  },
  {
    target: 'compare',
    title: 'The trade-off',
    text: 'Every run is a point: KV-cache bytes per token against held-out perplexity. Lower left is better. Click a results row to draw its head layout and compare one head’s attention before and after.',
  },
  {
    target: 'fuse',
    title: 'What to try next',
    text: 'Try 25 % with each method, more DHA steps, recovery training of K/V only, or your own checkpoint (Model panel). Share a setup with Copy link or Share as lesson. Papers: GQA arXiv 2305.13245; Align-heads arXiv 2412.20677; DHA arXiv 2406.06567.',
  },
];

export const TOUR_STEPS = STEPS.length;

const LAST = 'headlab.tourStep';

export function Tour() {
  const step = useSettings((s) => s.tour);
  const setTour = useSettings((s) => s.setTour);
  const current = step > 0 ? STEPS[Math.min(step, STEPS.length) - 1] : null;
  useEffect(() => {
    if (!current) return;
    try {
      localStorage.setItem(LAST, String(step));
    } catch {
      /* storage may be off: resuming then starts over */
    }
    const el = document.getElementById(current.target);
    el?.classList.add('tour-target');
    el?.scrollIntoView({ behavior: 'smooth', block: 'start' });
    return () => el?.classList.remove('tour-target');
  }, [current, step]);
  if (!current) return null;
  const act = () => {
    const a = current.action;
    if (!a) return;
    for (const [k, v] of Object.entries(a.settings ?? {})) useSettings.getState().set(k, v);
    // Press the panel's own button, after React has shown the new settings: the same path as a user's click.
    setTimeout(() => (document.querySelector(`[data-testid="${a.press}"]`) as HTMLButtonElement | null)?.click(), 50);
  };
  return (
    <aside className="tour" role="dialog" aria-labelledby="tour-title" data-testid="tour">
      <p className="hint" data-testid="tour-step" data-step={step}>
        Tour · step {step} of {STEPS.length}
      </p>
      <h2 id="tour-title">{current.title}</h2>
      <p>{current.text}</p>
      <div className="actions">
        {current.action && (
          <button type="button" onClick={act} data-testid="tour-action">
            {current.action.label}
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
    <button type="button" onClick={() => setTour(resume ? last : 1)} data-testid="tour-start" title="Eight short steps over the built-in demo: the KV cache, head similarity, mean-pool, alignment, DHA, recovery, the trade-off">
      {resume ? `Resume the tour (step ${last})` : 'Take the tour'}
    </button>
  );
}
