// DHA's default settings (src/fusion/dha.ts), apart so that the page's settings table reads them without the compute core.

export const DHA_DEFAULTS = {
  steps: 100,
  seed: 1,
  tokensPerStep: 4096,
  seqLen: 256,
  lr: 1e-3,
  params: 'attention' as 'kv' | 'attention',
  inputs: 'student' as 'teacher' | 'student',
  checkEvery: 25,
  /** How the budget is shared out: DHA's search (per layer, by merge cost) or the same count in every layer. */
  allocation: 'search' as DhaAllocation,
  /** 'equal': the K total and the V total each equal the budget; 'joint': one budget of K+V heads, split by cost. */
  kvSplit: 'equal' as DhaKvSplit,
};

export type DhaAllocation = 'search' | 'uniform';
export type DhaKvSplit = 'equal' | 'joint';
export const DHA_ALLOCATIONS: readonly DhaAllocation[] = ['search', 'uniform'];
export const DHA_KV_SPLITS: readonly DhaKvSplit[] = ['equal', 'joint'];

/**
 * DHA's own layer-local steps when end-to-end training follows on a shared token budget (`fuse --train-steps` without
 * `--steps`): at equal tokens its own steps recovered no better than giving every token to end-to-end training (docs/RESULTS.md,
 * "Equal training tokens"), so the default spends none.
 */
export const DHA_OWN_STEPS_WITH_TRAINING = 0;

/** On a CPU fallback adapter (SwiftShader) the command line and the page start from these. */
export const DHA_FALLBACK_DEFAULTS = { steps: 20, tokensPerStep: 512, seqLen: 128 };
