// The conversions a comparison can run side by side, each changing one thing against its neighbour: the four methods, and
// DHA with one of its parts switched (the race's lanes, the worked example's runs). DOM-free: the page, the worker and the
// `headlab example` command read the same table, and every label says what was run.
import type { FuseOptions, FusionMethod } from '../fusion/fuse';
import type { DhaAllocation, DhaKvSplit } from '../fusion/dhaDefaults';
import { MLA_DEFAULTS } from '../fusion/mlaDefaults';

/** The settings a lane changes (a part of fusionRun's FusionSettings, which extends it). */
export interface LaneSettings {
  method: FusionMethod;
  /** DHA's own layer-local steps. */
  steps: number;
  renormalise: boolean;
  allocation: DhaAllocation;
  kvSplit: DhaKvSplit;
  /** Latent KV (MLA): which rotary pairs keep RoPE, what the latent is fitted to, how many pairs (absent: MLA_DEFAULTS, pairs automatic). */
  mla?: FuseOptions['mla'];
}

export type LaneKey = 'meanpool' | 'aligned' | 'dha' | 'dha-e2e' | 'dha-uniform' | 'dha-joint' | 'mla';

export interface LaneSpec {
  key: LaneKey;
  method: FusionMethod;
  /** Short name for legends and tables. */
  label: string;
  /** What this lane changes against the plain DHA lane (or what the method is), for tooltips. */
  changes: string;
  /** The settings of this lane, from the comparison's shared settings. */
  apply: <S extends LaneSettings>(s: S) => S;
}

export const LANES: readonly LaneSpec[] = [
  {
    key: 'meanpool',
    method: 'meanpool',
    label: 'mean-pool',
    changes: 'GQA mean-pooling: contiguous groups averaged, no calibration',
    apply: (s) => ({ ...s, method: 'meanpool', steps: 0 }),
  },
  {
    key: 'aligned',
    method: 'aligned',
    label: 'aligned merge',
    changes: 'Heads aligned (rotations within rotary planes for K, any orthogonal map for V) before averaging; merged heads renormalised unless switched off',
    apply: (s) => ({ ...s, method: 'aligned', steps: 0 }),
  },
  {
    key: 'dha',
    method: 'dha',
    label: 'DHA',
    changes: 'DHA (our reconstruction): searched per-layer K and V budgets, aligned merge, then its own layer-local steps out of the shared token budget',
    apply: (s) => ({ ...s, method: 'dha' }),
  },
  {
    key: 'dha-e2e',
    method: 'dha',
    label: 'DHA, 0 own steps',
    changes: "DHA's budgets and merge with none of its own layer-local steps: every token goes to end-to-end training (another split of the same token budget)",
    apply: (s) => ({ ...s, method: 'dha', steps: 0 }),
  },
  {
    key: 'dha-uniform',
    method: 'dha',
    label: 'DHA, uniform counts',
    changes: "DHA with the same K and V count in every layer (no search over layers): isolates what the search's allocation is worth",
    apply: (s) => ({ ...s, method: 'dha', allocation: 'uniform' }),
  },
  {
    key: 'dha-joint',
    method: 'dha',
    label: 'DHA, joint K+V budget',
    changes: 'DHA spending one budget of K+V heads, so that V (whose heads are less alike) may keep more heads than K',
    apply: (s) => ({ ...s, method: 'dha', kvSplit: 'joint' }),
  },
  {
    key: 'mla',
    method: 'mla',
    label: 'latent KV (MLA)',
    changes:
      'Latent KV (MLA): no head is merged — every head stays distinct — and the cache holds, in the same bytes as the other lanes, one small latent per token that all heads rebuild their keys and values from, plus a few rotary key dims per K head; no own steps, so every token goes to end-to-end training (like mean-pool)',
    apply: (s) => ({ ...s, method: 'mla', steps: 0 }),
  },
];

export const LANE_KEYS: readonly LaneKey[] = LANES.map((l) => l.key);
export const LANE_BY_KEY: ReadonlyMap<LaneKey, LaneSpec> = new Map(LANES.map((l) => [l.key, l]));

/** What a run was, in words: the method and its switches (DHA's where they differ from its default; MLA's pair choice and latent fit always). */
export function variantLabel(s: LaneSettings): string {
  if (s.method === 'meanpool') return 'mean-pool';
  if (s.method === 'aligned') return s.renormalise ? 'aligned + renorm' : 'aligned, no renorm';
  if (s.method === 'mla') {
    const { ropeSelect = MLA_DEFAULTS.ropeSelect, latentInit = MLA_DEFAULTS.latentInit, ropePairs } = s.mla ?? {};
    const pairs = ropePairs === 0 ? 'no rotary pairs' : `${ropePairs === undefined ? '' : `${ropePairs} `}${ropeSelect} pairs`;
    return `MLA (${pairs}, ${latentInit})`;
  }
  const parts = [s.allocation === 'uniform' ? 'uniform counts' : null, s.kvSplit === 'joint' ? 'joint K+V' : null, `${s.steps} own steps`];
  return `DHA (${parts.filter(Boolean).join(', ')})`;
}

export type { DhaAllocation, DhaKvSplit };
