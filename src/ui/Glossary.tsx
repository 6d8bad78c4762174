// The words the lab's texts lean on — Gram, energy, rotary plane, GPA, and what a perplexity is counted in — defined once, at
// the end of the page. Tooltips name it; hints, the tour and the worked example link to a term with GlossaryLink, which
// scrolls to it and marks it (no address fragment: the page address holds the settings).
import type { ReactNode } from 'react';

export type GlossaryTerm = 'gram' | 'energy' | 'rotary-plane' | 'gpa' | 'perplexity';

interface Entry {
  term: GlossaryTerm;
  name: string;
  text: ReactNode;
}

const ENTRIES: Entry[] = [
  {
    term: 'gram',
    name: 'Gram (matrix)',
    text: (
      <>
        Stack a layer’s input vectors on the calibration text as the rows of X (N tokens × d). Its Gram is XᵀX (d × d): every inner product between two input
        features, summed over the tokens. A head’s output is Y_h = X W_hᵀ, so every quantity the lab measures about head outputs — ‖Y_h‖², Y_iᵀY_j, the best
        rotation between two heads — is W_i XᵀX W_jᵀ for some weights: one pass over the text fills the Grams, and the N outputs are never stored.
      </>
    ),
  },
  {
    term: 'energy',
    name: 'energy',
    text: (
      <>
        A head’s energy is ‖Y_h‖², the sum over the calibration tokens of its output vector’s squared length; a layer’s K (or V) energy is the sum over its K
        (or V) heads. Merge costs are shares of it: “a merge loses 10 % of the energy” means the squared difference between the original outputs and the merged
        head’s outputs is 10 % of the layer’s total. A weak head (little energy) costs little to merge whatever it computes.
      </>
    ),
  },
  {
    term: 'rotary-plane',
    name: 'rotary plane',
    text: (
      <>
        Rotary position embedding (RoPE) turns a query’s and a key’s coordinates in pairs — (0, 1), (2, 3), … or (i, i + d/2) — each pair by an angle
        proportional to the token’s position; each pair spans a rotary plane, with its own frequency. The score q·k then depends only on how far apart the
        tokens are. A rotation applied to a K head (and undone in its query head) keeps that only if it turns each rotary plane within itself, so K heads may be
        aligned by one 2 × 2 rotation per plane. V heads carry no RoPE: any orthogonal map, undone in W_O, is allowed.
      </>
    ),
  },
  {
    term: 'gpa',
    name: 'GPA (generalised Procrustes analysis)',
    text: (
      <>
        Orthogonal Procrustes finds the orthogonal map Q that brings one set of outputs closest to another (least ‖A Q − B‖²; closed form from the singular
        value decomposition of AᵀB). GPA aligns a whole group at once: it aligns every member to the group’s mean, recomputes the mean, and repeats until the
        mean stops moving. The merged head is the aligned mean. Here every step is computed from the Grams, and K heads use only per-plane rotations.
      </>
    ),
  },
  {
    term: 'perplexity',
    name: 'perplexity (per byte, per token)',
    text: (
      <>
        exp of the mean negative log-likelihood of the next token on held-out text: the number of equally likely choices the model is as unsure as. It is
        counted in the model’s own tokens. The built-in demo reads bytes, so its perplexity is per byte: a uniform guess over 256 bytes scores 256, and its
        figures cannot be set beside per-token figures of models with word-piece tokenizers (a token spans several bytes).
      </>
    ),
  },
];

/** The id of a term's entry. */
export const glossaryId = (term: GlossaryTerm) => `glossary-${term}`;

/** Scrolls to a term's entry and marks it for a moment. */
export function showGlossary(term: GlossaryTerm) {
  const el = document.getElementById(glossaryId(term));
  if (!el) return;
  el.scrollIntoView({ behavior: 'smooth', block: 'center' });
  el.classList.add('glossary-shown');
  (el as HTMLElement).focus({ preventScroll: true });
  setTimeout(() => el.classList.remove('glossary-shown'), 2500);
}

/** A word in a hint that links to its glossary entry. */
export function GlossaryLink({ term, children }: { term: GlossaryTerm; children: ReactNode }) {
  const entry = ENTRIES.find((e) => e.term === term)!;
  return (
    <button
      type="button"
      className="glossary-link"
      onClick={() => showGlossary(term)}
      title={`${entry.name}: in the Glossary at the end of the page`}
      data-testid="glossary-link"
      data-term={term}
    >
      {children}
    </button>
  );
}

export function Glossary() {
  return (
    <aside className="panel glossary" id="glossary" aria-labelledby="glossary-title" data-testid="glossary">
      <h2 id="glossary-title">Glossary</h2>
      <dl>
        {ENTRIES.map((e) => (
          <div key={e.term}>
            <dt id={glossaryId(e.term)} tabIndex={-1} data-testid="glossary-term" data-term={e.term}>
              {e.name}
            </dt>
            <dd>{e.text}</dd>
          </div>
        ))}
      </dl>
    </aside>
  );
}
