// Every setting of every panel, described once (TensorFlow Playground's state.ts): key, kind, default, allowed range. The
// page address's hash is written from this table as controls change and read from it when the page opens, so a link
// reproduces an experiment: the model, each panel's controls and the seeds. Teachers add hide= (controls not shown), lock=
// (shown, read-only) and lesson= (a text above the panels). Unknown keys and values out of range are ignored with a note.
// No DOM here: parsing and writing are pure functions (tested in Node); src/lab/settingsStore.ts binds them to the page.

import { OWN_STEP_DEFAULTS, OWN_STEP_FALLBACK_DEFAULTS } from '../fusion/recipe';
import { KV_QUANT_DEFAULTS } from '../model/kvQuant';
import { LATENT_INITS, MLA_DEFAULTS, ROPE_SELECTS } from '../fusion/mlaDefaults';
import { LANE_KEYS } from './variants';

export type PanelName = 'model' | 'similarity' | 'fuse' | 'race' | 'compare' | 'eval';
export type Value = number | string | boolean | string[];
export type ControlKind = 'int' | 'number' | 'enum' | 'bool' | 'text' | 'set';

export interface ControlSpec {
  key: string;
  panel: PanelName;
  label: string;
  kind: ControlKind;
  /** The default, or one per adapter: small on a CPU fallback (SwiftShader), larger on a GPU. */
  default: Value | ((fallback: boolean) => Value);
  min?: number;
  max?: number;
  /** enum: the allowed values; set: the allowed members. */
  values?: readonly string[];
  /** text: the longest value kept. */
  maxLength?: number;
  /** The "automatic" switch this value overrides: a link that sets the value and not the switch turns the switch off. */
  auto?: string;
  /** Where the value goes in a run configuration (src/fusion/recipe.ts RunConfig), e.g. 'recipe.grouping'. */
  path?: string;
}

const fb =
  <T extends Value>(cpu: T, gpu: T) =>
  (fallback: boolean) =>
    fallback ? cpu : gpu;
const METHODS = ['meanpool', 'aligned', 'dha', 'mla'] as const;
/** The held-out documents every panel evaluates on by default (the last M of the sample): one set, so that the original reads
 * the same perplexity in the Fuse panel, the race and the worked example. */
const HELD_OUT_DOCS = fb(6, 20);
/** The calibration (and training) text every panel reads by default, its first N tokens: one size, so that runs of the Fuse
 * panel and of the race train on the same windows of the same text. */
const CALIBRATION_TOKENS = fb(8192, 65536);
const train = <P extends 'fuse' | 'race'>(panel: P, steps: (f: boolean) => number) =>
  [
    { key: `${panel}.train.steps`, panel, label: 'training steps', kind: 'int', default: steps, min: 0, max: 100_000, path: 'train.steps' },
    { key: `${panel}.train.lr`, panel, label: 'learning rate', kind: 'number', default: 1e-3, min: 1e-6, max: 0.5, path: 'train.lr' },
    { key: `${panel}.train.params`, panel, label: 'trains', kind: 'enum', default: 'all', values: ['all', 'attention', 'kv'], path: 'train.params' },
    { key: `${panel}.train.loss`, panel, label: 'loss', kind: 'enum', default: 'kl', values: ['kl', 'ce', 'mix'], path: 'train.loss' },
    { key: `${panel}.train.batch`, panel, label: 'sequences per step', kind: 'int', default: fb(8, 32), min: 1, max: 1024, path: 'train.batch' },
    { key: `${panel}.train.seq`, panel, label: 'sequence length', kind: 'int', default: fb(64, 128), min: 2, max: 8192, path: 'train.seqLen' },
    { key: `${panel}.train.evalEvery`, panel, label: 'evaluate every', kind: 'int', default: fb(4, 25), min: 0, max: 100_000, path: 'train.evalEvery' },
  ] as const;

export const CONTROLS = [
  { key: 'model', panel: 'model', label: 'model', kind: 'text', default: 'demo', maxLength: 2000 },

  { key: 'sim.metric', panel: 'similarity', label: 'metric', kind: 'enum', default: 'cka', values: ['weight-cosine', 'cka', 'aligned'] },
  { key: 'sim.tokens', panel: 'similarity', label: 'calibration tokens', kind: 'int', default: 2048, min: 16, max: 1_000_000 },
  { key: 'sim.q', panel: 'similarity', label: 'show Q heads', kind: 'bool', default: false },
  { key: 'sim.originalOrder', panel: 'similarity', label: 'keep the original head order', kind: 'bool', default: false },

  { key: 'fuse.method', panel: 'fuse', label: 'method', kind: 'enum', default: 'meanpool', values: METHODS, path: 'recipe.preset' },
  { key: 'fuse.budget', panel: 'fuse', label: 'KV budget', kind: 'enum', default: '50', values: ['50', '25', 'custom'], path: 'budget' },
  { key: 'fuse.pct', panel: 'fuse', label: 'custom budget, %', kind: 'number', default: 37.5, min: 0.1, max: 100, path: 'budget' },
  { key: 'fuse.cal', panel: 'fuse', label: 'calibration text', kind: 'enum', default: 'sample', values: ['sample', 'file'] },
  {
    key: 'fuse.calTokens',
    panel: 'fuse',
    label: 'calibration tokens',
    kind: 'int',
    default: CALIBRATION_TOKENS,
    min: 2,
    max: 10_000_000,
    path: 'calibrationTokens',
  },
  { key: 'fuse.eval', panel: 'fuse', label: 'evaluation text', kind: 'enum', default: 'sample', values: ['sample', 'file'] },
  { key: 'fuse.evalDocs', panel: 'fuse', label: 'held-out documents', kind: 'int', default: HELD_OUT_DOCS, min: 1, max: 100_000 },
  // The recipe's choices (src/fusion/recipe.ts, HEAD_CHOICES): "preset" keeps the method's own value.
  { key: 'fuse.grouping', panel: 'fuse', label: 'groups', kind: 'enum', default: 'preset', values: ['preset', 'contiguous', 'cost'], path: 'recipe.grouping' },
  { key: 'fuse.align', panel: 'fuse', label: 'align', kind: 'enum', default: 'preset', values: ['preset', 'on', 'off'], path: 'recipe.align' },
  {
    key: 'fuse.renormalise',
    panel: 'fuse',
    label: 'renormalise',
    kind: 'enum',
    default: 'preset',
    values: ['preset', 'on', 'off'],
    path: 'recipe.renormalise',
  },
  {
    key: 'fuse.kvGroups',
    panel: 'fuse',
    label: 'K/V groups',
    kind: 'enum',
    default: 'preset',
    values: ['preset', 'shared', 'separate'],
    path: 'recipe.kvGroups',
  },
  {
    key: 'fuse.groupSizes',
    panel: 'fuse',
    label: 'group sizes',
    kind: 'enum',
    default: 'preset',
    values: ['preset', 'equal', 'free'],
    path: 'recipe.groupSizes',
  },
  {
    key: 'fuse.allocation',
    panel: 'fuse',
    label: 'allocation',
    kind: 'enum',
    default: 'preset',
    values: ['preset', 'uniform', 'search'],
    path: 'recipe.allocation',
  },
  { key: 'fuse.kvSplit', panel: 'fuse', label: 'K/V budget', kind: 'enum', default: 'preset', values: ['preset', 'equal', 'joint'], path: 'recipe.kvSplit' },
  { key: 'fuse.fusion', panel: 'fuse', label: 'fusion', kind: 'enum', default: 'preset', values: ['preset', 'merge', 'progressive'], path: 'recipe.fusion' },
  /** Progressive fusion: what trains beside the operators, and the operators' learning rate. */
  {
    key: 'fuse.fusionTrains',
    panel: 'fuse',
    label: 'fusion trains',
    kind: 'enum',
    default: OWN_STEP_DEFAULTS.fusionTrains,
    values: ['operators', 'all'],
    path: 'recipe.own.fusionTrains',
  },
  {
    key: 'fuse.operatorLr',
    panel: 'fuse',
    label: 'operator learning rate',
    kind: 'number',
    default: OWN_STEP_DEFAULTS.operatorLr,
    min: 0,
    max: 10,
    path: 'recipe.own.operatorLr',
  },
  {
    key: 'fuse.ropeSelect',
    panel: 'fuse',
    label: 'which rotary pairs',
    kind: 'enum',
    default: MLA_DEFAULTS.ropeSelect,
    values: ROPE_SELECTS,
    path: 'recipe.ropeSelect',
  },
  {
    key: 'fuse.latentInit',
    panel: 'fuse',
    label: 'latent from',
    kind: 'enum',
    default: MLA_DEFAULTS.latentInit,
    values: LATENT_INITS,
    path: 'recipe.latentInit',
  },
  /** Rotary pairs each K head keeps: automatic (from the head dim and the budget), or fuse.ropePairs — 0 keeps no position in the keys. */
  { key: 'fuse.ropeAuto', panel: 'fuse', label: 'automatic', kind: 'bool', default: true },
  { key: 'fuse.ropePairs', panel: 'fuse', label: 'rotary pairs', kind: 'int', default: 1, min: 0, max: 4096, auto: 'fuse.ropeAuto', path: 'recipe.ropePairs' },
  /** Own layer-local steps: automatic (the preset's: DHA 100, 20 on a CPU fallback, none when recovery training follows), or fuse.steps. */
  { key: 'fuse.stepsAuto', panel: 'fuse', label: 'automatic', kind: 'bool', default: true },
  {
    key: 'fuse.steps',
    panel: 'fuse',
    label: 'own steps',
    kind: 'int',
    default: fb(20, 100),
    min: 0,
    max: 100_000,
    auto: 'fuse.stepsAuto',
    path: 'recipe.ownSteps',
  },
  { key: 'fuse.seed', panel: 'fuse', label: 'seed', kind: 'int', default: 1, min: 0, max: 2 ** 31 - 1, path: 'seed' },
  {
    key: 'fuse.tokensPerStep',
    panel: 'fuse',
    label: 'own steps: tokens per step',
    kind: 'int',
    default: fb(OWN_STEP_FALLBACK_DEFAULTS.tokensPerStep, OWN_STEP_DEFAULTS.tokensPerStep),
    min: 2,
    max: 1_000_000,
    path: 'recipe.own.tokensPerStep',
  },
  {
    key: 'fuse.seqLen',
    panel: 'fuse',
    label: 'own steps: sequence length',
    kind: 'int',
    default: fb(OWN_STEP_FALLBACK_DEFAULTS.seqLen, OWN_STEP_DEFAULTS.seqLen),
    min: 2,
    max: 8192,
    path: 'recipe.own.seqLen',
  },
  ...train('fuse', () => 0),
  { key: 'fuse.prompt', panel: 'fuse', label: 'prompt for comparisons', kind: 'text', default: 'Once upon a time', maxLength: 500 },
  { key: 'fuse.compareTokens', panel: 'fuse', label: 'comparison tokens', kind: 'int', default: 64, min: 1, max: 1000 },

  { key: 'race.methods', panel: 'race', label: 'lanes', kind: 'set', default: ['meanpool', 'aligned', 'dha', 'dha-e2e', 'mla'], values: LANE_KEYS },
  { key: 'race.renorm', panel: 'race', label: 'renormalise merged heads', kind: 'bool', default: true },
  { key: 'race.budget', panel: 'race', label: 'budget', kind: 'enum', default: '25', values: ['50', '25'] },
  { key: 'race.dhaSteps', panel: 'race', label: 'DHA steps', kind: 'int', default: fb(4, 25), min: 0, max: 100_000 },
  ...train('race', fb(12, 100)),
  { key: 'race.calTokens', panel: 'race', label: 'calibration tokens', kind: 'int', default: CALIBRATION_TOKENS, min: 2, max: 10_000_000 },
  { key: 'race.evalDocs', panel: 'race', label: 'held-out documents', kind: 'int', default: HELD_OUT_DOCS, min: 1, max: 100_000 },
  { key: 'race.seed', panel: 'race', label: 'seed', kind: 'int', default: 1, min: 0, max: 2 ** 31 - 1 },
  /** Seeds per lane: each lane trains once per seed (seed, seed + 1, …), drawn as a band from the lowest to the highest. */
  { key: 'race.seeds', panel: 'race', label: 'seeds', kind: 'int', default: fb(1, 3), min: 1, max: 10 },

  { key: 'compare.prompt', panel: 'compare', label: 'prompt', kind: 'text', default: 'Once upon a time, there was a little girl named Lily.', maxLength: 300 },
  { key: 'compare.layer', panel: 'compare', label: 'layer', kind: 'int', default: 0, min: 0, max: 1000 },
  { key: 'compare.head', panel: 'compare', label: 'query head', kind: 'int', default: 0, min: 0, max: 1000 },

  { key: 'eval.split', panel: 'eval', label: 'split', kind: 'enum', default: 'endoftext', values: ['endoftext', 'blank-lines'] },
  { key: 'eval.minChars', panel: 'eval', label: 'min characters', kind: 'int', default: 0, min: 0, max: 1_000_000 },
  { key: 'eval.maxDocs', panel: 'eval', label: 'max documents', kind: 'int', default: 20, min: 0, max: 1_000_000 },
  { key: 'eval.prompt', panel: 'eval', label: 'prompt', kind: 'text', default: 'Once upon a time', maxLength: 2000 },
  { key: 'eval.tokens', panel: 'eval', label: 'tokens', kind: 'int', default: 80, min: 1, max: 1000 },
  { key: 'eval.temperature', panel: 'eval', label: 'temperature', kind: 'number', default: 0, min: 0, max: 5 },
  { key: 'eval.topK', panel: 'eval', label: 'top-k', kind: 'int', default: 40, min: 0, max: 100_000 },
  { key: 'eval.seed', panel: 'eval', label: 'seed', kind: 'int', default: 1, min: 0, max: 2 ** 31 - 1 },
  { key: 'eval.compare', panel: 'eval', label: 'compare with the model before', kind: 'bool', default: false },
  /** A quantised KV cache (src/model/kvQuant.ts) for perplexity and generation: 16 bits is the plain cache. */
  { key: 'eval.kvBits', panel: 'eval', label: 'KV cache bits', kind: 'enum', default: '16', values: ['16', '8', '4', '3', '2'] },
  { key: 'eval.kvGroup', panel: 'eval', label: 'group', kind: 'int', default: KV_QUANT_DEFAULTS.group, min: 2, max: 1024 },
  { key: 'eval.kvResidual', panel: 'eval', label: 'recent exact', kind: 'int', default: KV_QUANT_DEFAULTS.residual, min: 0, max: 1_000_000 },
  { key: 'eval.keyAxis', panel: 'eval', label: 'keys grouped per', kind: 'enum', default: KV_QUANT_DEFAULTS.keyAxis, values: ['channel', 'token'] },
  { key: 'eval.keyRope', panel: 'eval', label: 'keys quantised', kind: 'enum', default: KV_QUANT_DEFAULTS.keyRope, values: ['post', 'pre'] },
  { key: 'eval.keepSink', panel: 'eval', label: 'first token exact', kind: 'bool', default: KV_QUANT_DEFAULTS.keepSink },
] as const satisfies readonly ControlSpec[];

export const CONTROL_BY_KEY: ReadonlyMap<string, ControlSpec> = new Map(CONTROLS.map((c): [string, ControlSpec] => [c.key, c]));

type Spec = (typeof CONTROLS)[number];
type ValueOf<C extends ControlSpec> = C['kind'] extends 'int' | 'number'
  ? number
  : C['kind'] extends 'bool'
    ? boolean
    : C extends { kind: 'set'; values: readonly (infer V)[] }
      ? V[]
      : C extends { kind: 'enum'; values: readonly (infer V)[] }
        ? V
        : string;

/** Every setting's value, typed from the table: what the panels read. */
export type Settings = { [C in Spec as C['key']]: ValueOf<C> };
export type SettingKey = keyof Settings;

/** What is wrong with a setting's value, by the table's own limits ("seed: 1.5 is not a whole number"), or null. */
export function settingProblem(key: SettingKey, value: Value): string | null {
  const c = CONTROL_BY_KEY.get(key)!;
  const r = parseValue(c, formatValue(c, value));
  return 'problem' in r ? `${c.label}: ${r.problem}` : null;
}

/** The first problem among some settings (a Run button checks the ones its run reads), or null. */
export function firstProblem(values: Settings, keys: readonly SettingKey[]): string | null {
  for (const k of keys) {
    const p = settingProblem(k, values[k]);
    if (p) return p;
  }
  return null;
}
export const PANELS: readonly PanelName[] = ['model', 'similarity', 'fuse', 'race', 'compare', 'eval'];

export type Values = Record<string, Value>;

export function defaults(fallback: boolean): Settings {
  return Object.fromEntries(CONTROLS.map((c: ControlSpec) => [c.key, typeof c.default === 'function' ? c.default(fallback) : c.default])) as Settings;
}

/** A value read from text, or why it is not allowed. */
export function parseValue(c: ControlSpec, text: string): { value: Value } | { problem: string } {
  switch (c.kind) {
    case 'int':
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) return { problem: `"${text}" is not a number` };
      if (c.kind === 'int' && !Number.isInteger(n)) return { problem: `"${text}" is not a whole number` };
      if ((c.min !== undefined && n < c.min) || (c.max !== undefined && n > c.max)) return { problem: `${n} is outside ${c.min} … ${c.max}` };
      return { value: n };
    }
    case 'bool':
      if (text === '1' || text === 'true') return { value: true };
      if (text === '0' || text === 'false') return { value: false };
      return { problem: `"${text}" is not true or false` };
    case 'enum':
      return c.values!.includes(text) ? { value: text } : { problem: `"${text}" is not one of ${c.values!.join(', ')}` };
    case 'set': {
      const members = text === '' ? [] : text.split(',');
      const bad = members.find((m) => !c.values!.includes(m));
      if (bad !== undefined) return { problem: `"${bad}" is not one of ${c.values!.join(', ')}` };
      return { value: c.values!.filter((v) => members.includes(v)) };
    }
    case 'text':
      return text.length > (c.maxLength ?? 1000) ? { problem: `longer than ${c.maxLength} characters` } : { value: text };
  }
}

export function formatValue(c: ControlSpec, v: Value): string {
  if (c.kind === 'bool') return v ? '1' : '0';
  if (c.kind === 'set') return (v as string[]).join(',');
  return String(v);
}

/** Whether a value is one the control allows (what a page may write, and what a control may be set to). */
export function allowed(c: ControlSpec, v: Value): boolean {
  const r = parseValue(c, formatValue(c, v));
  return 'value' in r;
}

export interface PageState {
  values: Settings;
  /** Keys (or whole panels) not shown, and keys shown read-only. */
  hide: string[];
  lock: string[];
  lesson: string;
  /** The guided tour's step (0: closed). */
  tour: number;
}

/** What a hash says: the settings it gives (others stay as they are), the teacher's controls, and notes on what was ignored. */
export function parseHash(hash: string): { given: Values; hide: string[]; lock: string[]; lesson: string; tour: number; notes: string[] } {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const given: Values = {};
  const notes: string[] = [];
  const names = (text: string, what: string) =>
    text
      .split(',')
      .filter(Boolean)
      .filter((k) => {
        const ok = CONTROL_BY_KEY.has(k) || (PANELS as readonly string[]).includes(k);
        if (!ok) notes.push(`${what}: unknown control "${k}" ignored`);
        return ok;
      });
  let hide: string[] = [];
  let lock: string[] = [];
  let lesson = '';
  let tour = 0;
  for (const [key, text] of params) {
    if (key === 'hide') hide = names(text, 'hide');
    else if (key === 'lock') lock = names(text, 'lock');
    else if (key === 'lesson') lesson = text.slice(0, 4000);
    else if (key === 'tour') {
      const n = Number(text);
      if (Number.isInteger(n) && n >= 0 && n <= 50) tour = n;
      else notes.push(`tour: "${text}" is not a step number; ignored`);
    } else {
      const c = CONTROL_BY_KEY.get(key);
      if (!c) {
        notes.push(`unknown setting "${key}" ignored`);
        continue;
      }
      const r = parseValue(c, text);
      if ('value' in r) given[key] = r.value;
      else notes.push(`${key}: ${r.problem}; the default is kept`);
    }
  }
  // A value given by hand means its "automatic" switch is off, unless the link says otherwise.
  for (const key of Object.keys(given)) {
    const auto = CONTROL_BY_KEY.get(key)?.auto;
    if (auto && !(auto in given)) given[auto] = false;
  }
  return { given, hide, lock, lesson, tour, notes };
}

/** The hash for a page state: every control's allowed value (one being typed, out of range, is left out), then the teacher's controls. */
export function writeHash(s: Omit<PageState, 'values'> & { values: Values }): string {
  const params = new URLSearchParams();
  for (const c of CONTROLS) if (s.values[c.key] !== undefined && allowed(c, s.values[c.key])) params.set(c.key, formatValue(c, s.values[c.key]));
  if (s.hide.length) params.set('hide', s.hide.join(','));
  if (s.lock.length) params.set('lock', s.lock.join(','));
  if (s.lesson) params.set('lesson', s.lesson);
  if (s.tour) params.set('tour', String(s.tour));
  return `#${params.toString()}`;
}

/** Whether a control is hidden (by its key or its panel). */
export function isHidden(s: Pick<PageState, 'hide'>, key: string): boolean {
  const c = CONTROL_BY_KEY.get(key);
  return s.hide.includes(key) || (c !== undefined && s.hide.includes(c.panel));
}

export function isLocked(s: Pick<PageState, 'lock'>, key: string): boolean {
  const c = CONTROL_BY_KEY.get(key);
  return s.lock.includes(key) || (c !== undefined && s.lock.includes(c.panel));
}
