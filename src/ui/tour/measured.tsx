// What the tour quotes as measured: the demo's ladder and progressive fusion against the merge, copied from
// docs/RESULTS.md (each constant names its section), so that a step's words follow the table.
import type { ReactNode } from 'react';
import { BUDGET } from './budget';

/**
 * Each rung measured on the demo at 25 % (docs/RESULTS.md, "The ladder on the demo"): held-out perplexity per byte after the
 * same 6 144 training tokens, mean [lowest, highest] over two seeds, and the effect of the rung's change.
 */
const DEMO_LADDER: Record<string, [string, string]> = {
  'mean-pool': ['9.272 [9.230, 9.313]', ''],
  'groups by cost': ['8.673 [8.482, 8.865]', '−0.60, beyond the spread of seeds'],
  alignment: ['3.016 [3.009, 3.022]', '−5.66, the largest step of the ladder'],
  renormalisation: ['2.894 [2.892, 2.895]', '−0.12, beyond the spread'],
  'separate K/V groups': ['2.794 [2.761, 2.827]', '−0.10, beyond the spread'],
  'free group sizes': ['2.652 [2.652, 2.653]', '−0.14, beyond the spread: the best rung'],
  'per-layer counts': ['3.191 [3.162, 3.220]', '+0.54: the search hurts here'],
  'joint K+V budget': ['3.207 [3.180, 3.235]', '+0.02: no measurable difference, inside the spread'],
  'own steps': ['3.149 [3.144, 3.153]', '−0.06, beyond the spread'],
};

/**
 * Progressive fusion against the merge on the demo at 25 % (docs/RESULTS.md, "Progressive fusion against the merge"): two
 * seeds, the same 6 144 training tokens, a quarter of them in the conversion's own steps.
 */
export const PROGRESSIVE_MEASURED =
  'Measured on the demo at 25 % (two seeds, the same 6 144 training tokens, a quarter of them fusing): with the mixes alone training, 3.632 [3.624, 3.639] ' +
  'per byte after training; with every weight training beside them, 3.364 [3.307, 3.421]; the merge with as many layer-local steps, 3.129 [3.125, 3.132]. ' +
  'Here jumping wins, beyond the spread of seeds — docs/RESULTS.md has every split.';

/** What the rung's change measured on the demo, as a sentence. */
export function measured(name: string): ReactNode {
  const [ppl, effect] = DEMO_LADDER[name];
  return (
    <>
      {' '}
      Measured on the demo at {BUDGET} % (two seeds, the same 6 144 training tokens, docs/RESULTS.md): {ppl} per byte after training
      {effect ? `, ${effect}` : ''}.
    </>
  );
}

/**
 * The quantised cache measured (docs/RESULTS.md, "A quantised KV cache"): tinystories-mha on the val150 protocol, the
 * quantiser alone (nothing trained), against the head and latent conversions at the same bytes after 102 400 tokens.
 */
export const KV_QUANT_MEASURED =
  'Measured on tinystories-mha (150 held-out stories; its original perplexity 4.374): a 2-bit cache with no exact window, a quarter of the 16-bit ' +
  'bytes, reads 4.418 untrained; DHA at 25 % of the bytes reads 5.413 and the latent 5.542 after 102 400 tokens of training. At 8 bits nothing ' +
  'changes (+0.003 %). On this model and these short stories the next byte is better kept as a number than as a head — long contexts are harsher ' +
  'on low bits, and the two combine: docs/RESULTS.md has the grid.';
