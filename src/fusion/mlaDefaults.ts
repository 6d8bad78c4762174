// The latent-KV (MLA) conversion's choices and defaults, apart from src/fusion/mla.ts so that the settings table and the
// page read them without the factorisation code.
export type RopeSelect = 'norm' | 'high' | 'low' | 'uniform';
export const ROPE_SELECTS: readonly RopeSelect[] = ['norm', 'high', 'low', 'uniform'];
export type LatentInit = 'weights' | 'activations';
export const LATENT_INITS: readonly LatentInit[] = ['weights', 'activations'];

/** norm: MHA2MLA's best pair choice; activations: the factorisation measured on the calibration text (TransMLA, Palu). */
export const MLA_DEFAULTS: { ropeSelect: RopeSelect; latentInit: LatentInit } = { ropeSelect: 'norm', latentInit: 'activations' };
