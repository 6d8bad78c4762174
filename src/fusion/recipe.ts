// A conversion recipe: what a conversion does, as independent choices, so that a student can change one and see what it
// does. The head-sharing methods (GQA mean-pool, the aligned merge, DHA) are named presets of the same choices, run by one
// executor (src/fusion/headSharing.ts); the latent KV (MLA) is the second family, with its own choices. The run
// configuration (the recipe, the budget, the seed, the calibration size and the training that follows) is the only type a
// run takes, from the page, the worker, the race, the CLI and `headlab example` alike; its defaults live here. DOM-free and
// GPU-free: the page's settings table reads it.
import type { TrainLoss, TrainOptions } from '../train/trainer';
import type { TrainableSet } from '../train/params';
import { MLA_DEFAULTS, type LatentInit, type RopeSelect } from './mlaDefaults';

export type HeadPreset = 'meanpool' | 'aligned' | 'dha';
export type FusionMethod = HeadPreset | 'mla';
export const FUSION_METHODS: readonly FusionMethod[] = ['meanpool', 'aligned', 'dha', 'mla'];
export const HEAD_PRESETS: readonly HeadPreset[] = ['meanpool', 'aligned', 'dha'];

/** The choices of a head-sharing conversion, each independent of the others. */
export interface HeadChoices {
  /** Which heads go together: contiguous index ranges (GQA), or the partition with the least merge cost. */
  grouping: 'contiguous' | 'cost';
  /** Members aligned before averaging: rotations within rotary planes for K, any orthogonal map for V, folded into Q / O. */
  align: 'on' | 'off';
  /** Each merged head rescaled to its members' mean energy. */
  renormalise: 'on' | 'off';
  /** One partition for K and V (a GQA layout), or a partition for each. */
  kvGroups: 'shared' | 'separate';
  /** Groups of one size in a layer, or any sizes. */
  groupSizes: 'equal' | 'free';
  /** The same head count in every layer, or counts per layer by least total merge cost. */
  allocation: 'uniform' | 'search';
  /** The K total and the V total each equal the budget, or one budget of K+V heads shared by both. */
  kvSplit: 'equal' | 'joint';
  /**
   * How each group becomes one head: merged at once (the aligned mean), or fused progressively by learned operators over
   * the conversion's own steps, trained end to end, then collapsed (src/fusion/progressive.ts).
   */
  fusion: 'merge' | 'progressive';
}
export type HeadChoice = keyof HeadChoices;

/** The settings of a conversion's own layer-local steps (DHA's stage 3; src/fusion/ownSteps.ts). */
export interface OwnStepSettings {
  /** Calibration tokens per step (sequences of `seqLen` positions; a step holds at least one sequence). */
  tokensPerStep: number;
  seqLen: number;
  /** Adam learning rate of the trained attention weights. */
  lr: number;
  /** What trains in each layer: the merged K/V projections, or the whole attention (W_Q, W_K, W_V, W_O). */
  params: 'kv' | 'attention';
  /** Each layer's input from the merged model being trained ('student') or from the original ('teacher'). */
  inputs: 'teacher' | 'student';
  /** Measure the calibration KL every this many steps (and after the last) and keep the best state. */
  checkEvery: number;
  /** Progressive fusion: what trains beside the operators — nothing ('operators'), or every weight of the model ('all'). */
  fusionTrains: 'operators' | 'all';
  /** Progressive fusion: Adam learning rate of the operators (cosine to 0 over the steps). */
  operatorLr: number;
}

export interface HeadRecipe extends HeadChoices {
  family: 'heads';
  /** The preset these choices started from: names the run, and its labels say what differs from it. */
  preset: HeadPreset;
  /** Layer-local steps of the merged model toward the original before any end-to-end training (0: none). */
  ownSteps: number;
  own: OwnStepSettings;
}

export interface LatentRecipe {
  family: 'latent';
  preset: 'mla';
  ropeSelect: RopeSelect;
  latentInit: LatentInit;
  /** Rotary pairs each K head keeps (absent: automatic, from the head dim and the budget). */
  ropePairs?: number;
}

export type Recipe = HeadRecipe | LatentRecipe;

/** One choice described once: its command-line flag, values, what it means, and how a label names a value that differs. */
export interface ChoiceSpec {
  key: HeadChoice;
  flag: string;
  values: readonly string[];
  title: string;
  help: string;
  /** How a label names each value when it differs from the preset's. */
  words: Record<string, string>;
}

/** A choice's spec, its values checked against the recipe's type. */
const spec = <C extends HeadChoice>(s: {
  key: C;
  flag: string;
  values: readonly HeadChoices[C][];
  title: string;
  help: string;
  words: Record<HeadChoices[C], string>;
}): ChoiceSpec => s;
export const HEAD_CHOICES: readonly ChoiceSpec[] = [
  spec({
    key: 'grouping',
    flag: 'grouping',
    values: ['contiguous', 'cost'],
    title: 'groups',
    help: 'Which heads share: contiguous index ranges (heads 0–1, 2–3, … as in GQA) or the partition whose merge loses the least calibration energy',
    words: { contiguous: 'contiguous groups', cost: 'groups by cost' },
  }),
  spec({
    key: 'align',
    flag: 'align',
    values: ['on', 'off'],
    title: 'align',
    help: 'Align the members of a group before averaging: rotations within rotary planes for K, any orthogonal map for V, folded into W_Q and W_O so the model computes the same function',
    words: { on: 'aligned', off: 'not aligned' },
  }),
  spec({
    key: 'renormalise',
    flag: 'renorm',
    values: ['on', 'off'],
    title: 'renormalise',
    help: "Rescale each merged head to its members' mean energy (averaging shrinks heads that disagree)",
    words: { on: 'renormalised', off: 'no renorm' },
  }),
  spec({
    key: 'kvGroups',
    flag: 'kv-groups',
    values: ['shared', 'separate'],
    title: 'K/V groups',
    help: 'One partition for K and V (a GQA layout: a query head reads one K/V pair), or a partition of the K heads and another of the V heads',
    words: { shared: 'shared K/V groups', separate: 'separate K/V groups' },
  }),
  spec({
    key: 'groupSizes',
    flag: 'group-sizes',
    values: ['equal', 'free'],
    title: 'group sizes',
    help: 'Every group of a layer the same size, or any sizes (a head unlike the others may stay alone)',
    words: { equal: 'equal group sizes', free: 'free group sizes' },
  }),
  spec({
    key: 'allocation',
    flag: 'allocation',
    values: ['uniform', 'search'],
    title: 'allocation',
    help: 'The same head count in every layer, or counts per layer chosen so that the total merge cost is least (DHA)',
    words: { uniform: 'uniform counts', search: 'searched counts' },
  }),
  spec({
    key: 'kvSplit',
    flag: 'kv-split',
    values: ['equal', 'joint'],
    title: 'K/V budget',
    help: 'K and V each keep the budget, or one budget of K+V heads is shared so that V (whose heads are less alike) may keep more than K',
    words: { equal: 'equal K and V totals', joint: 'joint K+V' },
  }),
  spec({
    key: 'fusion',
    flag: 'fusion',
    values: ['merge', 'progressive'],
    title: 'fusion',
    help:
      "How a group becomes one head: merged at once (its members' aligned mean), or fused progressively — each head a learned mix of its group's heads, " +
      'starting from the original model and pulled together by an augmented Lagrangian over the own steps (trained end to end), then collapsed',
    words: { merge: 'merged at once', progressive: 'progressive fusion' },
  }),
];

export const HEAD_CHOICE_KEYS: readonly HeadChoice[] = HEAD_CHOICES.map((c) => c.key);

/** The presets as choices. */
export const PRESET_CHOICES: Record<HeadPreset, HeadChoices> = {
  meanpool: {
    grouping: 'contiguous',
    align: 'off',
    renormalise: 'off',
    kvGroups: 'shared',
    groupSizes: 'equal',
    allocation: 'uniform',
    kvSplit: 'equal',
    fusion: 'merge',
  },
  aligned: {
    grouping: 'cost',
    align: 'on',
    renormalise: 'on',
    kvGroups: 'shared',
    groupSizes: 'equal',
    allocation: 'uniform',
    kvSplit: 'equal',
    fusion: 'merge',
  },
  dha: { grouping: 'cost', align: 'on', renormalise: 'on', kvGroups: 'separate', groupSizes: 'free', allocation: 'search', kvSplit: 'equal', fusion: 'merge' },
};

/** Words for the presets (labels, legends). */
export const PRESET_NAMES: Record<FusionMethod, string> = { meanpool: 'mean-pool', aligned: 'aligned merge', dha: 'DHA', mla: 'latent KV (MLA)' };

export const OWN_STEP_DEFAULTS: OwnStepSettings = {
  tokensPerStep: 4096,
  seqLen: 256,
  lr: 1e-3,
  params: 'attention',
  inputs: 'student',
  checkEvery: 25,
  // every weight: better than the operators alone at every split measured on the demo (docs/RESULTS.md)
  fusionTrains: 'all',
  operatorLr: 0.01,
};
/** On a CPU fallback adapter (SwiftShader) the command line and the page start from these. */
export const OWN_STEP_FALLBACK_DEFAULTS: Pick<OwnStepSettings, 'tokensPerStep' | 'seqLen'> = { tokensPerStep: 512, seqLen: 128 };

export interface DefaultContext {
  /** End-to-end training follows (its steps are every method's budget: own steps come out of it). */
  training: boolean;
  /** A CPU fallback adapter: smaller defaults. */
  fallback: boolean;
}

/**
 * A preset's own layer-local steps: DHA takes 100 (20 on a CPU fallback) when nothing else trains; when end-to-end training
 * follows on a shared token budget, none — at equal tokens its own steps recovered no better than giving every token to
 * end-to-end training (docs/RESULTS.md, "Equal training tokens"). The other presets take none.
 */
export function defaultOwnSteps(preset: FusionMethod, ctx: DefaultContext): number {
  if (preset !== 'dha' || ctx.training) return 0;
  return ctx.fallback ? 20 : 100;
}

export function ownStepDefaults(fallback: boolean): OwnStepSettings {
  return fallback ? { ...OWN_STEP_DEFAULTS, ...OWN_STEP_FALLBACK_DEFAULTS } : { ...OWN_STEP_DEFAULTS };
}

/** A preset as a recipe, with the defaults of its context. */
export function presetRecipe(preset: FusionMethod, ctx: DefaultContext): Recipe {
  if (preset === 'mla') return { family: 'latent', preset, ropeSelect: MLA_DEFAULTS.ropeSelect, latentInit: MLA_DEFAULTS.latentInit };
  return { family: 'heads', preset, ...PRESET_CHOICES[preset], ownSteps: defaultOwnSteps(preset, ctx), own: ownStepDefaults(ctx.fallback) };
}

/** The choices of a head recipe that differ from its preset's, in the table's order. */
export function changedChoices(r: HeadRecipe): HeadChoice[] {
  const p = PRESET_CHOICES[r.preset];
  return HEAD_CHOICE_KEYS.filter((k) => r[k] !== p[k]);
}

/** What a run was, in words: the preset and the choices that differ from it ("aligned merge (separate K/V groups)"). */
export function recipeLabel(r: Recipe): string {
  if (r.family === 'latent') {
    const pairs = r.ropePairs === 0 ? 'no rotary pairs' : `${r.ropePairs === undefined ? '' : `${r.ropePairs} `}${r.ropeSelect} pairs`;
    return `MLA (${pairs}, ${r.latentInit})`;
  }
  const parts: string[] = changedChoices(r).map((k) => HEAD_CHOICES.find((c) => c.key === k)!.words[r[k]]);
  // DHA's own steps are part of its name (their number varies with the context); others only when taken.
  if (r.fusion === 'progressive' && r.own.fusionTrains !== OWN_STEP_DEFAULTS.fusionTrains)
    parts.push(r.own.fusionTrains === 'all' ? 'every weight training' : 'operators only');
  const what = r.fusion === 'progressive' ? 'fusion step' : 'own step';
  if (r.preset === 'dha' || r.ownSteps > 0) parts.push(`${r.ownSteps} ${what}${r.ownSteps === 1 ? '' : 's'}`);
  return parts.length ? `${PRESET_NAMES[r.preset]} (${parts.join(', ')})` : PRESET_NAMES[r.preset];
}

/** Whether the conversion reads calibration text (GQA mean-pool does not; the latent reads it for its default fits). */
export function readsCalibration(r: Recipe): boolean {
  if (r.family === 'latent') return r.ropeSelect === 'norm' || r.latentInit === 'activations';
  return needsCost(r) || r.align === 'on' || r.renormalise === 'on' || r.ownSteps > 0;
}

/** Whether the grouping compares partitions by merge cost (anything but one contiguous equal partition per layer). */
export function needsCost(r: HeadChoices): boolean {
  return r.grouping === 'cost' || r.groupSizes === 'free' || r.allocation === 'search' || r.kvSplit === 'joint';
}

/** The K and V heads of one layer, as the recipe checks read them. */
export interface LayerHeads {
  kHeads: number;
  vHeads: number;
  kHeadOf: readonly number[];
  vHeadOf: readonly number[];
}

/** Heads kept out of `n` at a budget fraction (at least 1). */
export function headsAtBudget(n: number, budget: number): number {
  if (!(budget > 0 && budget <= 1)) throw new RangeError(`the KV budget must be in (0, 1]; got ${budget}`);
  return Math.max(1, Math.round(n * budget));
}

/** The K and V head totals a budget keeps over all layers (each layer keeps at least one of each). */
export function budgetTotals(layers: readonly LayerHeads[], budget: number): { k: number; v: number } {
  const L = layers.length;
  const k = layers.reduce((s, l) => s + l.kHeads, 0);
  const v = layers.reduce((s, l) => s + l.vHeads, 0);
  return { k: Math.max(L, headsAtBudget(k, budget)), v: Math.max(L, headsAtBudget(v, budget)) };
}

/** `total` heads spread over layers as evenly as whole heads allow (earlier layers keep the remainder), at most each layer's `n`. */
export function evenCounts(n: readonly number[], total: number): number[] {
  const L = n.length;
  return n.map((ni, i) => Math.min(ni, Math.floor(total / L) + (i < total % L ? 1 : 0)));
}

const pct = (x: number) => `${Number((100 * x).toFixed(2))} %`;

/**
 * Why a recipe cannot run on these layers at this budget, in one sentence that names the clashing choices and what would
 * work — or null. Checks what is known before any calibration (the searched counts are checked by the search itself).
 */
export function recipeProblem(r: HeadRecipe, layers: readonly LayerHeads[], budget: number): string | null {
  if (!(budget > 0 && budget <= 1)) return `the KV budget must be in (0 %, 100 %]; got ${pct(budget)}`;
  if (!Number.isInteger(r.ownSteps) || r.ownSteps < 0) return `own steps must be a whole number ≥ 0; got ${r.ownSteps}`;
  if (r.kvGroups === 'shared') {
    const bad = layers.findIndex((l) => l.kHeads !== l.vHeads || l.kHeadOf.some((k, h) => l.vHeadOf[h] !== k));
    if (bad >= 0)
      return `shared K/V groups need layers whose query heads read the same K and V head; layer ${bad} does not (a DHA model): choose separate K/V groups`;
    if (r.kvSplit === 'joint')
      return 'a joint K+V budget needs separate K/V groups (shared groups keep as many K heads as V heads): choose separate K/V groups or equal K and V totals';
  }
  if (r.groupSizes === 'equal' && r.allocation === 'uniform' && r.kvSplit === 'equal') {
    const totals = budgetTotals(layers, budget);
    for (const kind of ['k', 'v'] as const) {
      const n = layers.map((l) => (kind === 'k' ? l.kHeads : l.vHeads));
      const counts = evenCounts(n, totals[kind]);
      const bad = counts.findIndex((c, i) => n[i] % c !== 0);
      if (bad >= 0) {
        const fits = [...new Set(n)].length === 1 ? divisorBudgets(n[0]) : null;
        return (
          `equal group sizes need each layer's head count to divide its ${n[bad]} ${kind.toUpperCase()} heads, but at ${pct(budget)} layer ${bad} keeps ${counts[bad]}: ` +
          `choose free group sizes${fits ? ` or a budget of ${fits.join(', ')}` : ''}`
        );
      }
    }
  }
  return null;
}

/** The budgets at which `n` heads split into equal groups ("12.5 %", "25 %", …). */
export function divisorBudgets(n: number): string[] {
  return Array.from({ length: n }, (_, i) => i + 1)
    .filter((g) => n % g === 0)
    .map((g) => pct(g / n));
}

/** End-to-end recovery training after the conversion (distillation from the original on the calibration text). */
export interface RecoverySettings {
  steps: number;
  lr: number;
  params: TrainableSet;
  loss: TrainLoss;
  /** Sequences per step and positions per sequence. */
  batch: number;
  seqLen: number;
  /** Held-out perplexity every this many steps (and after the last). */
  evalEvery: number;
}

/** The training after the conversion: its steps (every method's budget: own steps come out of it) and any trainer setting. */
export type TrainSettings = Partial<Omit<TrainOptions, 'seed'>> & { steps: number };

/** One run: the recipe, the budget, the seed, how much calibration text, and the training that follows (null: none). */
export interface RunConfig {
  recipe: Recipe;
  /** Share of the KV cache kept, in (0, 1]. */
  budget: number;
  /** Seeds the own steps' and the recovery's batches. */
  seed: number;
  /** Calibration (and training) text: at most this many tokens (null: all of it). */
  calibrationTokens: number | null;
  train: TrainSettings | null;
}

/** A run configuration's method: its recipe's preset. */
export const methodOf = (c: Pick<RunConfig, 'recipe'>): FusionMethod => c.recipe.preset;
