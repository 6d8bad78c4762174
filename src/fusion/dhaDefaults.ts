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
};

/** On a CPU fallback adapter (SwiftShader) the command line and the page start from these. */
export const DHA_FALLBACK_DEFAULTS = { steps: 20, tokensPerStep: 512, seqLen: 128 };
