// The page's settings (src/lab/settings.ts) as a store, kept in the address's hash: read when the page opens (after the
// adapter is known, so that defaults fit it), written as controls change. Notes say what a link asked for that was ignored.
import { create } from 'zustand';
import { CONTROL_BY_KEY, defaults, isHidden, isLocked, parseHash, writeHash, type PageState, type Value } from './settings';

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

/** Rewrites the hash (without a history entry per keystroke). */
function saveHash(s: PageState) {
  const loc = location();
  if (!loc || typeof history === 'undefined') return;
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
    const values = { ...defaults(fallback), ...parsed.given };
    // ?model= (older links) names the model when the hash does not.
    const legacy = loc ? new URLSearchParams(loc.search).get('model') : null;
    if (legacy && parsed.given.model === undefined) values.model = legacy;
    set({ values, hide: parsed.hide, lock: parsed.lock, lesson: parsed.lesson, tour: parsed.tour, notes: parsed.notes, ready: true });
    saveHash(get());
  },

  set: (key, value) => {
    if (!CONTROL_BY_KEY.has(key)) throw new Error(`no setting "${key}"`);
    if (isLocked(get(), key)) return;
    set((s) => ({ values: { ...s.values, [key]: value } }));
    saveHash(get());
  },

  setTeacher: (t) => {
    set(t);
    saveHash(get());
  },

  setTour: (tour) => {
    set({ tour });
    saveHash(get());
  },

  dismissNotes: () => set({ notes: [] }),
}));

/** One setting's value and whether the lesson hides or locks it. */
export function useSetting<T extends Value>(key: string): [T, (v: T) => void, { hidden: boolean; locked: boolean }] {
  const value = useSettings((s) => s.values[key]) as T;
  const hidden = useSettings((s) => isHidden(s, key));
  const locked = useSettings((s) => isLocked(s, key));
  return [value, (v: T) => useSettings.getState().set(key, v), { hidden, locked }];
}

/** Every value of a panel, read once (for a Run button). */
export function settingValues(): Record<string, Value> {
  return useSettings.getState().values;
}

/** Whether a lesson link hides a whole panel. */
export function usePanelHidden(panel: string): boolean {
  return useSettings((s) => s.hide.includes(panel));
}
