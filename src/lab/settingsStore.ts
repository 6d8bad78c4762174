// The page's settings (src/lab/settings.ts) as a store, kept in the address's hash: read when the page opens (after the
// adapter is known, so that defaults fit it), written as controls change. Notes say what a link asked for that was ignored.
import { create } from 'zustand';
import {
  CONTROL_BY_KEY,
  defaults,
  isHidden,
  isLocked,
  parseHash,
  writeHash,
  type PageState,
  type SettingKey,
  type Settings,
  type Value,
  type Values,
} from './settings';

interface SettingsState extends PageState {
  /** Defaults applied and the hash read. */
  ready: boolean;
  /** What the opened link asked for that was ignored (unknown keys, values out of range). */
  notes: string[];
  /** Reads the hash over the adapter's defaults (a CPU fallback gets small ones). */
  init: (fallback: boolean) => void;
  set: (key: string, value: Value) => void;
  setTeacher: (t: Partial<Pick<PageState, 'hide' | 'lock' | 'lesson'>>) => void;
  setTour: (step: number) => void;
  dismissNotes: () => void;
}

function location(): Location | null {
  return typeof globalThis.location === 'undefined' ? null : globalThis.location;
}

let pending: ReturnType<typeof setTimeout> | null = null;

/**
 * What the reader changed while the page was opening, before the address was read (a first click on *Take the tour* while
 * the adapter is still being asked for): init applies it over the link, so that the click is not undone, and nothing is
 * written to the address before the link in it has been read.
 */
let early: { values: Values; tour?: number; teacher?: Partial<Pick<PageState, 'hide' | 'lock' | 'lesson'>> } = { values: {} };

/** Rewrites the hash (without a history entry per keystroke); only once the hash has been read (`ready`). */
function saveHash(s: PageState & { ready: boolean }) {
  const loc = location();
  if (!loc || typeof history === 'undefined' || !s.ready) return;
  if (pending) clearTimeout(pending);
  pending = setTimeout(() => {
    pending = null;
    const hash = writeHash(s);
    if (loc.hash !== hash) history.replaceState(history.state, '', `${loc.pathname}${loc.search}${hash}`);
  }, 100);
}

export const useSettings = create<SettingsState>((set, get) => ({
  values: defaults(true),
  hide: [],
  lock: [],
  lesson: '',
  tour: 0,
  ready: false,
  notes: [],

  init: (fallback) => {
    const loc = location();
    const parsed = parseHash(loc?.hash ?? '');
    // The table checked every value the link gave (parseHash): from here on they are the typed settings.
    const values: Values = { ...defaults(fallback), ...parsed.given };
    // ?model= (older links) names the model when the hash does not.
    const legacy = loc ? new URLSearchParams(loc.search).get('model') : null;
    if (legacy && parsed.given.model === undefined) values.model = legacy;
    // What the reader did while the page opened is newer than the link (read once: a later init, for a link pasted into the
    // tab, is the reader's newest act).
    const { values: changed, tour, teacher } = early;
    early = { values: {} };
    const lock = teacher?.lock ?? parsed.lock;
    for (const [k, v] of Object.entries(changed)) if (!isLocked({ lock }, k)) values[k] = v;
    set({
      values: values as Settings,
      hide: parsed.hide,
      lock: parsed.lock,
      lesson: parsed.lesson,
      ...teacher,
      tour: tour ?? parsed.tour,
      notes: parsed.notes,
      ready: true,
    });
    saveHash(get());
  },

  set: (key, value) => {
    if (!CONTROL_BY_KEY.has(key)) throw new Error(`no setting "${key}"`);
    if (isLocked(get(), key)) return;
    if (!get().ready) early.values[key] = value;
    set((s) => ({ values: { ...s.values, [key]: value } }));
    saveHash(get());
  },

  setTeacher: (t) => {
    if (!get().ready) early.teacher = { ...early.teacher, ...t };
    set(t);
    saveHash(get());
  },

  setTour: (tour) => {
    if (!get().ready) early.tour = tour;
    set({ tour });
    saveHash(get());
  },

  dismissNotes: () => set({ notes: [] }),
}));

/** One setting's value and whether the lesson hides or locks it. */
export function useSetting<K extends SettingKey>(key: K): [Settings[K], (v: Settings[K]) => void, { hidden: boolean; locked: boolean }] {
  const value = useSettings((s) => s.values[key]);
  const hidden = useSettings((s) => isHidden(s, key));
  const locked = useSettings((s) => isLocked(s, key));
  return [value, (v: Settings[K]) => useSettings.getState().set(key, v), { hidden, locked }];
}

/** Whether a lesson link hides a whole panel. */
export function usePanelHidden(panel: string): boolean {
  return useSettings((s) => s.hide.includes(panel));
}
