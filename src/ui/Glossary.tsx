// The words the lab's texts lean on — Gram, energy, rotary plane, GPA, what a perplexity is counted in, and the latent KV
// cache's own (latent and d_c, rotary pair and partial RoPE, absorbed attention, KV bytes per token) — defined once, at the end
// of the page. Tooltips name it; hints, the tour and the worked example link to a term with GlossaryLink, which scrolls to it
// and marks it (no address fragment: the page address holds the settings).
import type { ReactNode } from 'react';

export type GlossaryTerm =
  | 'gram'
  | 'energy'
  | 'rotary-plane'
  | 'gpa'
  | 'cka'
  | 'kl'
  | 'gptq-style'
  | 'lagrangian'
  | 'perplexity'
  | 'latent'
  | 'partial-rope'
  | 'absorbed'
  | 'kv-bytes'
  | 'kv-quant';

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
    term: 'cka',
    name: 'CKA (centred kernel alignment)',
    text: (
      <>
        A similarity of two heads’ outputs on the calibration text, from 0 to 1: the outputs are centred, and CKA = ‖Y_iᵀY_j‖² / (‖Y_iᵀY_i‖ ‖Y_jᵀY_j‖)
        (Frobenius norms). 1 means the outputs agree up to an orthogonal map and a scale — more freedom than a merge has for K, whose maps must turn each rotary
        plane within itself. It says which heads are alike, not what merging them costs: the energy a merge loses does.
      </>
    ),
  },
  {
    term: 'kl',
    name: 'KL divergence, distillation',
    text: (
      <>
        KL(p ‖ q) = Σ_v p(v) log(p(v) / q(v)) measures how far a model’s next-token distribution q is from another’s, p, at one position: 0 when they agree.
        Distillation trains the converted model to bring its distribution back to the original’s at every position of the training text — KL(original ‖
        converted) per token is the loss — so it learns from everything the original predicts, not only from the token that came next.
      </>
    ),
  },
  {
    term: 'gptq-style',
    name: 'GPTQ-style (layer by layer, on the compressed model’s own inputs)',
    text: (
      <>
        GPTQ (Frantar et al. 2022) quantises a model one layer at a time, feeding each layer the outputs of the layers already quantised, so that a later layer
        corrects what the earlier ones got wrong. DHA’s own steps here train each merged layer the same way: its input comes from the merged model, its target
        is the original layer’s output on the original’s input.
      </>
    ),
  },
  {
    term: 'lagrangian',
    name: 'augmented Lagrangian',
    text: (
      <>
        A way to train under a constraint c = 0 without forcing it at once: the loss gets λ·c + ρ/2·c², where the multiplier λ grows by ρ·c after every step
        while the constraint is violated, and ρ itself rises on a schedule. Early on the task’s loss dominates; later the penalty wins and c goes to 0. In
        progressive fusion c is how far the rows of a group’s fusion operator are from agreeing: zero means the group’s heads are equal and can become one.
      </>
    ),
  },
  {
    term: 'rotary-plane',
    name: 'rotary plane',
    text: (
      <>
        Rotary position embedding (RoPE) turns a query’s and a key’s coordinates in pairs — (0, 1), (2, 3), … or (i, i + d/2) — each pair by an angle
        proportional to the token’s position; each pair spans a rotary plane, with its own frequency. The score q·k then depends on the two positions only
        through how far apart the tokens are. A rotation applied to a K head (and undone in its query head) keeps that only if it turns each rotary plane within
        itself, so K heads may be aligned by one 2 × 2 rotation per plane. V heads carry no RoPE: any orthogonal map, undone in W_O, is allowed.
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
  {
    term: 'latent',
    name: 'latent, d_c (latent KV, MLA)',
    text: (
      <>
        Multi-head latent attention (DeepSeek-V2) caches, per token and layer, one vector c = x W_dkvᵀ of d_c numbers that every head shares — the latent; d_c
        is its width. Each head rebuilds its own value, and its key in the dims that carry no RoPE (see partial RoPE), from it with its own up-projections (K_h
        = c W_uk,hᵀ, V_h = c W_uv,hᵀ), so no two heads are forced to be equal, as a merge forces them: all that is shared is the d_c-dimensional space every
        head’s key and value are read from. Converting a trained model stacks the position-free key rows of every K head (the dims that keep no RoPE) and the
        value rows into one matrix and factors it at rank d_c — by default fitted on the calibration activations, or from the weights alone; the weights’
        singular values say how much that loses (the K/V spectrum in the Head similarity panel).
      </>
    ),
  },
  {
    term: 'partial-rope',
    name: 'rotary pair, partial RoPE',
    text: (
      <>
        A rotary pair is the two coordinates of a query or key head that RoPE turns together: one rotary plane. Partial RoPE keeps the turn on only r pairs of
        each K head (and of the query heads that read it); on the other pairs queries and keys both stop turning, so those dims no longer see position — the
        scores change, and recovery training repairs that. In a latent model the r kept pairs are projected from the token directly and cached apart, 2r numbers
        per K head beside the latent: a turn that depends on the position cannot be folded once through the shared up-projection (see absorbed attention). Which
        pairs to keep: MHA2MLA ranks them by how much their queries and keys carry; headlab does so from the calibration text by default.
      </>
    ),
  },
  {
    term: 'absorbed',
    name: 'absorbed attention',
    text: (
      <>
        With a latent, a score can be computed without rebuilding the key: q_h · k_h = (q_h W_uk,h) · c, so W_uk,h folds into the query (d_c numbers per head)
        and every cached latent is scored as it is; W_uv,h folds into the output projection likewise. This is how an MLA model is served cheaply, and why the
        rotary part is kept apart: RoPE turns the key by a position-dependent angle between W_uk,h and the score, which no single folded matrix can hold.
        headlab rebuilds K and V from the latent instead and runs its ordinary attention — the same numbers up to rounding, with more arithmetic.
      </>
    ),
  },
  {
    term: 'kv-bytes',
    name: 'KV bytes per token',
    text: (
      <>
        What a model caches for every token it has read, summed over its layers, counted in float32 (4 bytes a number), the type the lab computes and stores in:
        a layer with heads caches (K heads + V heads) × d_h numbers; a latent layer caches d_c + 2r × (K heads) — the latent plus the r kept rotary pairs of
        every K head. The built-in demo (4 layers, 8 + 8 heads of 16 dims): 4 × 256 × 4 bytes = 4 KiB per token; as a latent at 25 % (d_c = 32, two pairs kept
        per K head), 4 × (32 + 8 × 4) × 4 bytes = 1 KiB. A model served in 16-bit numbers caches half.
      </>
    ),
  },
  {
    term: 'kv-quant',
    name: 'Quantised KV cache',
    text: (
      <>
        Fewer bits per cached number instead of fewer numbers. Each group of 32 values (KIVI, Liu et al. 2024) stores its minimum m and a scale s as two 16-bit
        numbers and every value as a b-bit code q = round((x − m)/s), read back as m + q·s; keys are grouped per channel (their outliers sit in fixed channels),
        values per token. The most recent positions stay exact until their group is whole. So a 4-bit cache costs 5 bits a value, not 4, plus the exact window;
        at 3 bits this lab packs 10 codes to a 32-bit word, the same words as 4 bits for a group of 32. Unlike heads and latents, it needs no training.
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
