// Pieces the fusion views share: method names and explanations, a number field, an error boundary for charts.
import { Component, type ReactNode } from 'react';
import type { FusionMethod } from '../../fusion/fuse';
import type { LaneKey } from '../../lab/variants';

export const METHOD_NAME: Record<FusionMethod, string> = { meanpool: 'mean-pool', aligned: 'aligned merge', dha: 'DHA', mla: 'latent KV (MLA)' };

/** One colour per method wherever methods are compared (Okabe–Ito: safe for colour-blind readers). */
export const METHOD_COLOUR: Record<FusionMethod, string> = { meanpool: '#E69F00', aligned: '#0072B2', dha: '#009E73', mla: '#CC79A7' };

/**
 * The race's lanes are drawn in their method's colour; DHA's variants, which share one colour, each get their own dash
 * pattern (plain DHA solid), so that they stay apart without relying on colour.
 */
export const LANE_DASH: Record<LaneKey, string | undefined> = {
  meanpool: undefined,
  'by-cost': '2 3',
  'align-only': '8 4',
  aligned: undefined,
  separate: '2 3',
  'free-sizes': '10 3 2 3',
  dha: undefined,
  'dha-e2e': '8 4',
  'dha-uniform': '2 3',
  'joint-e2e': '4 2',
  'dha-joint': '10 3 2 3',
  'dha-progressive': '1 2',
  'dha-progressive-all': '6 2 1 2',
  mla: undefined,
};

/** The column of what each layer caches, in every table of runs: K/V heads, or a latent's width + its rotary key dims. */
export const KV_SHAPE_HEADER = {
  text: 'KV per layer',
  title:
    'What each layer caches per token: K/V, the K heads and V heads it keeps; for latent KV (MLA), d_c + rotary dims: the width of its latent plus the rotary key dims its K heads keep (2 per kept pair and head)',
};

/** One line under each method. */
export const METHOD_TEXT: Record<FusionMethod, string> = {
  meanpool: 'GQA mean-pool: contiguous groups of heads averaged, the same number of K and V heads in every layer; no calibration, no training.',
  aligned:
    'Aligned merge (the alignment step of Align-heads; its gated training is not built): one equal-size partition of each layer’s heads, shared by K and V, the one whose merge loses the least calibration energy; members rotated onto each other (folded into the weights, so the function is unchanged), then averaged and rescaled to their mean energy.',
  dha: "DHA, Decoupled-Head Attention (our reconstruction): against the aligned merge, K and V are partitioned apart, groups may differ in size, and each layer keeps its own count (the budget shared out across layers); each group of heads is fused into one at its aligned mean, then — when no recovery training follows — the fused model's attention is trained layer by layer toward the original's.",
  mla: 'Latent KV (multi-head latent attention, as in DeepSeek-V2; the conversion follows MHA2MLA): every head stays distinct, but the cache holds one small latent per token that all heads rebuild their keys and values from, plus a few rotary key dims per head that keep position.',
};

/** The tooltips: what each method does in more detail. */
export const METHOD_TOOLTIP: Record<FusionMethod, string> = {
  meanpool:
    'Ainslie et al. 2023. KV head g serves query heads g·s … g·s+s−1 and its weights are the mean of theirs. The budget must divide the head count evenly (e.g. 8 heads: 50 %, 25 %, 12.5 %).',
  aligned:
    "Jin et al. (Align-heads). One calibration pass gives each layer's Grams; heads are grouped by least aligned residual; inside a group V heads are aligned by orthogonal Procrustes (folded into W_V and W_O) and K heads by one rotation per rotary plane (folded into W_Q and W_K), generalised Procrustes (GPA) over the group, then mean-pooled; renormalisation (ours, on by default) rescales each merged head to its members' mean energy. This is the paper's alignment step only: its training with gates that fade each head into the merged one is not built. Grouping objective and details are ours. Gram, energy, rotary plane, GPA: see the Glossary at the end of the page.",
  dha: "Chen et al., NeurIPS 2024 (arXiv 2406.06567); the paper is public, its code is not, and this is our reconstruction — without the paper's learned fusion operators, and trained by KL distillation toward the original rather than continued pre-training. Search: for every layer and K/V, the best partition into n groups by merge cost on the calibration Grams, and an exact DP that shares the global budget across layers. Fuse: each group's heads are aligned and merged into one head, rescaled to their mean energy. Train: every layer's attention (W_Q, merged W_K and W_V, W_O) learns the original layer's output by Adam, its input taken from the fused model itself; the state with the lowest calibration KL is kept, so more steps never make it worse on that probe. Gram, energy, GPA: see the Glossary at the end of the page.",
  mla: "Ji et al. 2025 (MHA2MLA, arXiv 2502.14837), with TransMLA's and Palu's activation-aware variant. Partial RoPE: each K head keeps RoPE on r of its rotary pairs (by default the pairs whose queries and keys carry the most energy on the calibration text); the other pairs stop rotating in queries and keys alike, which changes the scores — recovery training repairs that. Latent: the position-free key rows and the value rows of a layer are stacked and factored at rank d_c, from the weights (truncated SVD) or on the calibration activations (keys and values balanced to equal energy first). The cache per token is d_c + 2r·(K heads) values per layer, set by the same KV budget as the other methods. At full rank with every pair kept the model is unchanged. Attention can also be scored in latent space (the 'absorbed' form: W_uk folded into the queries); headlab rebuilds K and V instead, which gives the same numbers. Latent, d_c, rotary pair, absorbed attention: see the Glossary at the end of the page.",
};

/** A chart that fails to draw says so in the panel instead of taking the page down. */
export class ViewBoundary extends Component<{ children: ReactNode; what?: string; testId?: string }, { error: string | null }> {
  state = { error: null as string | null };
  static getDerivedStateFromError(e: unknown) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  render() {
    if (this.state.error)
      return (
        <p className="error" role="alert" data-testid={this.props.testId ?? 'fusion-view-error'}>
          The {this.props.what ?? 'live view'} could not be drawn: {this.state.error}
        </p>
      );
    return this.props.children;
  }
}
