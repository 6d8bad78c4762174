// The conversions a comparison can run side by side, each a recipe (src/fusion/recipe.ts) that changes one thing against its
// neighbour: the four presets, and DHA with one of its parts switched (the race's lanes, the worked example's runs).
// DOM-free: the page, the worker and the `headlab example` command read the same table, and every label says what was run.
import type { FusionMethod } from '../fusion/recipe';
import { presetRecipe, type HeadRecipe, type Recipe, type RecoverySettings, type RunConfig } from '../fusion/recipe';
import { ladder } from '../fusion/ladder';

export type LaneKey =
  | 'meanpool'
  | 'by-cost'
  | 'align-only'
  | 'aligned'
  | 'separate'
  | 'free-sizes'
  | 'dha'
  | 'dha-e2e'
  | 'dha-uniform'
  | 'joint-e2e'
  | 'dha-joint'
  | 'dha-progressive'
  | 'dha-progressive-all'
  | 'mla';

/** What every lane of a comparison shares: the budget, seed, texts' size and training, and the lanes' common switches. */
export interface RaceSettings {
  budget: number;
  /** The first training seed; with `seeds` > 1 every lane runs seed, seed + 1, … */
  seed: number;
  /** Seeds per lane (absent: one). */
  seeds?: number;
  calibrationTokens: number;
  /** Every lane's training budget (own steps come out of it). */
  train: RecoverySettings;
  /** DHA lanes' own layer-local steps, each of train.batch × train.seqLen tokens. */
  ownSteps: number;
  /** Renormalise merged heads in the lanes whose preset does (the aligned merge and DHA). */
  renormalise: boolean;
}

export interface LaneSpec {
  key: LaneKey;
  method: FusionMethod;
  /** Short name for legends and tables. */
  label: string;
  /** What this lane changes against the plain DHA lane (or what the method is), for tooltips. */
  changes: string;
  /** The lane's recipe, from the preset with its switches. */
  recipe: (s: RaceSettings) => Recipe;
}

/** A head recipe with the race's own-step settings (as many tokens per step as a training step) and its renormalisation switch. */
function inRace(r: HeadRecipe, s: RaceSettings): HeadRecipe {
  const own = { ...r.own, tokensPerStep: s.train.batch * s.train.seqLen, seqLen: s.train.seqLen };
  return { ...r, own, renormalise: r.renormalise === 'on' && !s.renormalise ? 'off' : r.renormalise };
}

/** A head preset in the race (DHA with the race's own steps), with its switches. */
function heads(preset: 'meanpool' | 'aligned' | 'dha', s: RaceSettings, change: Partial<HeadRecipe> = {}): HeadRecipe {
  const r = presetRecipe(preset, { training: true, fallback: false }) as HeadRecipe;
  return { ...inRace({ ...r, ownSteps: preset === 'dha' ? s.ownSteps : 0 }, s), ...change };
}

/** A rung of the ladder (src/fusion/ladder.ts) in the race: its recipe as the ladder defines it. */
const rung = (name: string, s: RaceSettings) => inRace(ladder({ training: true, fallback: false }, s.ownSteps).find((r) => r.name === name)!.recipe, s);

export const LANES: readonly LaneSpec[] = [
  {
    key: 'meanpool',
    method: 'meanpool',
    label: 'mean-pool',
    changes: 'GQA mean-pooling: contiguous groups averaged, no calibration',
    recipe: (s) => heads('meanpool', s),
  },
  {
    key: 'by-cost',
    method: 'meanpool',
    label: 'mean-pool, groups by cost',
    changes: 'A ladder rung: mean-pool with heads grouped by merge cost instead of by index (equal groups, one partition for K and V, no alignment)',
    recipe: (s) => rung('groups by cost', s),
  },
  {
    key: 'align-only',
    method: 'meanpool',
    label: 'aligned, no renorm',
    changes: 'A ladder rung: groups by cost, members aligned before averaging, not renormalised',
    recipe: (s) => rung('alignment', s),
  },
  {
    key: 'aligned',
    method: 'aligned',
    label: 'aligned merge',
    changes:
      'Against mean-pool: groups chosen by merge cost (equal sizes, one partition for K and V), members aligned (rotations within rotary planes for K, any orthogonal map for V) before averaging, merged heads renormalised unless switched off',
    recipe: (s) => heads('aligned', s),
  },
  {
    key: 'separate',
    method: 'aligned',
    label: 'aligned, separate K/V groups',
    changes: 'A ladder rung: the aligned merge with a partition of the K heads and another of the V heads',
    recipe: (s) => rung('separate K/V groups', s),
  },
  {
    key: 'free-sizes',
    method: 'aligned',
    label: 'aligned, separate K/V, free sizes',
    changes: 'A ladder rung: separate K/V partitions whose groups may differ in size (the same count in every layer)',
    recipe: (s) => rung('free group sizes', s),
  },
  {
    key: 'dha',
    method: 'dha',
    label: 'DHA',
    changes:
      'DHA (our reconstruction): against the aligned merge, separate K and V partitions of free sizes and searched per-layer counts; then its own layer-local steps out of the shared token budget',
    recipe: (s) => heads('dha', s),
  },
  {
    key: 'dha-e2e',
    method: 'dha',
    label: 'DHA, 0 own steps',
    changes: "DHA's budgets and merge with none of its own layer-local steps: every token goes to end-to-end training (another split of the same token budget)",
    recipe: (s) => heads('dha', s, { ownSteps: 0 }),
  },
  {
    key: 'dha-uniform',
    method: 'dha',
    label: 'DHA, uniform counts',
    changes: "DHA with the same K and V count in every layer (no search over layers): isolates what the search's allocation is worth",
    recipe: (s) => heads('dha', s, { allocation: 'uniform' }),
  },
  {
    key: 'joint-e2e',
    method: 'dha',
    label: 'DHA, joint K+V, 0 own steps',
    changes: 'A ladder rung: DHA spending one budget of K+V heads, with none of its own steps',
    recipe: (s) => rung('joint K+V budget', s),
  },
  {
    key: 'dha-joint',
    method: 'dha',
    label: 'DHA, joint K+V budget',
    changes: 'DHA spending one budget of K+V heads, so that V (whose heads are less alike) may keep more heads than K',
    recipe: (s) => heads('dha', s, { kvSplit: 'joint' }),
  },
  {
    key: 'dha-progressive',
    method: 'dha',
    label: 'DHA, progressive fusion',
    changes:
      "A ladder rung: DHA (joint K+V) whose own steps fuse each group progressively — every head a learned mix of its group's heads, trained end to end from the original and pulled together by an augmented Lagrangian, then collapsed — instead of merging at once and training layer by layer",
    recipe: (s) => rung('progressive fusion', s),
  },
  {
    key: 'dha-progressive-all',
    method: 'dha',
    label: 'DHA, progressive fusion, every weight',
    changes: 'A ladder rung: progressive fusion with every weight of the model training beside the fusion operators',
    recipe: (s) => rung('fusion trains every weight', s),
  },
  {
    key: 'mla',
    method: 'mla',
    label: 'latent KV (MLA)',
    changes:
      'Latent KV (MLA): no head is merged — every head stays distinct — and the cache holds, in the same bytes as the other lanes, one small latent per token that all heads rebuild their keys and values from, plus a few rotary key dims per K head; no own steps, so every token goes to end-to-end training (like mean-pool)',
    recipe: () => presetRecipe('mla', { training: true, fallback: false }),
  },
];

export const LANE_KEYS: readonly LaneKey[] = LANES.map((l) => l.key);

/** The ladder (src/fusion/ladder.ts) as lanes, one recipe choice apart: the race's "ladder" preset. */
export const LADDER_LANES: readonly LaneKey[] = [
  'meanpool',
  'by-cost',
  'align-only',
  'aligned',
  'separate',
  'free-sizes',
  'dha-e2e',
  'joint-e2e',
  'dha-joint',
  'dha-progressive',
  'dha-progressive-all',
];
export const LANE_BY_KEY: ReadonlyMap<LaneKey, LaneSpec> = new Map(LANES.map((l) => [l.key, l]));

/** A lane's run configuration. */
export function laneConfig(key: LaneKey, s: RaceSettings): RunConfig {
  return { recipe: LANE_BY_KEY.get(key)!.recipe(s), budget: s.budget, seed: s.seed, calibrationTokens: s.calibrationTokens, train: s.train };
}
