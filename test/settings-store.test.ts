// The page settings store while the page opens: what the reader does before the address has been read (a first click on
// Take the tour while the adapter is still being asked for) survives reading it, and nothing is written to the address
// before it has been read — the address a link opened with is the one read, never one the page wrote from defaults.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

const page = { hash: '', pathname: '/', search: '' };
const writes: string[] = [];
const saved = { location: Object.getOwnPropertyDescriptor(globalThis, 'location'), history: Object.getOwnPropertyDescriptor(globalThis, 'history') };

beforeAll(() => {
  Object.defineProperty(globalThis, 'location', { value: page, configurable: true, writable: true });
  Object.defineProperty(globalThis, 'history', {
    value: {
      state: null,
      replaceState: (_s: unknown, _t: string, url: string) => {
        writes.push(url);
        page.hash = url.slice(url.indexOf('#'));
      },
    },
    configurable: true,
    writable: true,
  });
});

afterAll(() => {
  for (const [k, d] of Object.entries(saved)) {
    if (d) Object.defineProperty(globalThis, k, d);
    else delete (globalThis as Record<string, unknown>)[k];
  }
});

beforeEach(() => {
  vi.useFakeTimers();
  vi.resetModules();
  page.hash = '';
  writes.length = 0;
});

const store = async () => (await import('../src/lab/settingsStore')).useSettings;

describe('settings before the address is read', () => {
  it('a tour step chosen while the page opens survives reading the address, which nothing wrote before', async () => {
    const s = await store();
    s.getState().setTour(1);
    vi.advanceTimersByTime(1000);
    expect(writes).toEqual([]); // the link has not been read yet: the address is left as it came
    s.getState().init(false);
    expect(s.getState().tour).toBe(1);
    vi.advanceTimersByTime(200);
    expect(page.hash).toContain('tour=1');
    // the adapter's defaults, not the CPU fallback's the store started from, and nothing else pinned by an early write
    expect(s.getState().values['fuse.steps']).toBe(100);
  });

  it('a click just before the address is read (within the hash write delay) is kept too', async () => {
    const s = await store();
    s.getState().setTour(3);
    vi.advanceTimersByTime(20);
    s.getState().init(true);
    vi.advanceTimersByTime(200);
    expect(s.getState().tour).toBe(3);
    expect(page.hash).toContain('tour=3');
  });

  it('early settings win over the link, except where the link locks them; the link gives the rest', async () => {
    page.hash = '#fuse.method=dha&fuse.budget=50&race.budget=50&lock=race.budget&tour=4';
    const s = await store();
    s.getState().set('fuse.budget', '25');
    s.getState().set('race.budget', '25');
    s.getState().init(true);
    const st = s.getState();
    expect(st.values['fuse.budget']).toBe('25');
    expect(st.values['race.budget']).toBe('50');
    expect(st.values['fuse.method']).toBe('dha');
    expect(st.tour).toBe(4); // the reader did not touch the tour: the link's step
  });

  it('after the address has been read, changes are written to it and a later read (a pasted link) is not undone by old clicks', async () => {
    const s = await store();
    s.getState().init(true);
    s.getState().setTour(2);
    vi.advanceTimersByTime(200);
    expect(page.hash).toContain('tour=2');
    page.hash = '#tour=5';
    s.getState().init(true);
    expect(s.getState().tour).toBe(5);
  });
});
