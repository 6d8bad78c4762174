// Results that survive a reload: the fusion results (each row with its downloadable files), the last similarity result and
// the last recovery race, kept in IndexedDB and tagged with the hash of the model they belong to. A full quota (or a browser
// without IndexedDB) is reported once and the page works on without saving.
import type { ResultRow } from './fusionRun';

const DB = 'headlab';
const VERSION = 1;
const STORES = ['rows', 'similarity', 'race'] as const;
type Store = (typeof STORES)[number];

export interface SavedRow {
  /** Saved under the model's hash; `key` orders rows as they were added. */
  modelHash: string;
  key: number;
  row: ResultRow;
  files: Record<string, Uint8Array>;
}

let opening: Promise<IDBDatabase> | null = null;

function open(): Promise<IDBDatabase> {
  if (opening) return opening;
  opening = new Promise((resolve, reject) => {
    const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!idb) {
      reject(new Error('this browser offers no IndexedDB'));
      return;
    }
    const req = idb.open(DB, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB could not be opened'));
  });
  opening.catch(() => (opening = null));
  return opening;
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  });
}

/** Why saving failed, for people: a full quota says so. */
export function saveProblem(e: unknown): string {
  const name = e instanceof DOMException ? e.name : e instanceof Error ? e.name : '';
  if (name === 'QuotaExceededError')
    return 'The browser’s storage for this page is full, so new results are not saved (Clear saved results frees it). The lab works on.';
  return `Results could not be saved (${e instanceof Error ? e.message : String(e)}); the lab works on without saving.`;
}

export async function put(store: Store, key: IDBValidKey, value: unknown): Promise<void> {
  const db = await open();
  const tx = db.transaction(store, 'readwrite');
  tx.objectStore(store).put(value, key);
  await done(tx);
}

export async function get<T>(store: Store, key: IDBValidKey): Promise<T | undefined> {
  const db = await open();
  const tx = db.transaction(store, 'readonly');
  const req = tx.objectStore(store).get(key);
  await done(tx);
  return req.result as T | undefined;
}

/** Every saved row of a model, in the order they were added. */
export async function rowsOf(modelHash: string): Promise<SavedRow[]> {
  const db = await open();
  const tx = db.transaction('rows', 'readonly');
  const req = tx.objectStore('rows').getAll();
  await done(tx);
  return (req.result as SavedRow[]).filter((r) => r.modelHash === modelHash).sort((a, b) => a.key - b.key);
}

/** Removes everything saved. */
export async function clearSaved(): Promise<void> {
  const db = await open();
  const tx = db.transaction([...STORES], 'readwrite');
  for (const s of STORES) tx.objectStore(s).clear();
  await done(tx);
}
