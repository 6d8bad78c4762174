// Above the panels: the lesson a link carries (plain text), what the link asked for that was ignored, and the link tools —
// Copy link (every setting of the page is in its address), Share as lesson (choose controls to hide or lock, write a
// lesson), and the keyboard keys.
import { useEffect, useRef, useState } from 'react';
import { useSettings } from '../lab/settingsStore';
import { useSaved } from '../lab/persistence';
import { CONTROLS, PANELS, writeHash, type PanelName } from '../lab/settings';

const PANEL_NAME: Record<PanelName, string> = {
  model: 'Model',
  similarity: 'Head similarity',
  fuse: 'Fuse heads',
  race: 'Recovery race',
  compare: 'Compare',
  eval: 'Evaluate',
};

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

export function pageLink(hash: string): string {
  const loc = globalThis.location;
  return `${loc.origin}${loc.pathname}${hash}`;
}

export function LessonBar() {
  const { lesson, notes, dismissNotes } = useSettings();
  const saved = useSaved();
  const [copied, setCopied] = useState<string | null>(null);
  const [sharing, setSharing] = useState(false);
  const [keys, setKeys] = useState(false);
  const copyLink = async () => {
    const link = pageLink(writeHash(useSettings.getState()));
    setCopied((await copy(link)) ? 'Link copied.' : `Copy this link: ${link}`);
    setTimeout(() => setCopied(null), 4000);
  };
  return (
    <div className="lesson-bar">
      {lesson && (
        <div className="lesson" data-testid="lesson" role="note" aria-label="Lesson">
          {lesson.split('\n').map((line, i) => (
            <p key={i}>{line}</p>
          ))}
        </div>
      )}
      {notes.length > 0 && (
        <div className="notice" role="status" data-testid="settings-notes">
          <p>This link asked for settings the lab does not know or allow; they were ignored:</p>
          <ul>
            {notes.map((n, i) => (
              <li key={i}>{n}</li>
            ))}
          </ul>
          <button type="button" className="secondary" onClick={dismissNotes}>
            Dismiss
          </button>
        </div>
      )}
      <div className="actions link-tools">
        <button
          type="button"
          className="secondary"
          onClick={() => void copyLink()}
          data-testid="copy-link"
          title="Copy the address of this page: it holds every setting, so opening it reproduces this experiment"
        >
          Copy link
        </button>
        <button
          type="button"
          className="secondary"
          onClick={() => setSharing(true)}
          data-testid="share-lesson"
          title="Build a link for a class: hide or lock controls, and add a short lesson text"
        >
          Share as lesson…
        </button>
        <button
          type="button"
          className="secondary"
          onClick={() => setKeys((k) => !k)}
          aria-expanded={keys}
          data-testid="keys-help-button"
          title="Keyboard keys"
        >
          Keys
        </button>
        <button
          type="button"
          className="secondary"
          onClick={() => void saved.clear()}
          data-testid="clear-saved"
          data-writes={saved.writes}
          title="Fusion results, the head similarity and the recovery race are kept in this browser across reloads; this removes them"
        >
          Clear saved results
        </button>
        {copied && (
          <span role="status" className="hint" data-testid="copy-link-status">
            {copied}
          </span>
        )}
      </div>
      {(saved.problem || saved.restored) && (
        <p className={saved.problem ? 'error' : 'hint'} role="status" data-testid="saved-status">
          {saved.problem ?? saved.restored}
        </p>
      )}
      {keys && (
        <dl className="keys-help" data-testid="keys-help">
          <dt>Space</dt>
          <dd>pause or resume the running fusion, training or race</dd>
          <dt>→</dt>
          <dd>one step while paused</dd>
          <dt>Escape</dt>
          <dd>cancel it (and close a dialog)</dd>
          <dt>Tab, Enter</dt>
          <dd>reach and press every control</dd>
        </dl>
      )}
      {sharing && <ShareDialog onClose={() => setSharing(false)} />}
    </div>
  );
}

function ShareDialog({ onClose }: { onClose: () => void }) {
  const state = useSettings.getState();
  const [hide, setHide] = useState<string[]>(state.hide);
  const [lock, setLock] = useState<string[]>(state.lock);
  const [lesson, setLesson] = useState(state.lesson);
  const [copied, setCopied] = useState(false);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const link = pageLink(writeHash({ ...state, hide, lock, lesson }));
  const toggle = (list: string[], set: (l: string[]) => void, key: string) => set(list.includes(key) ? list.filter((k) => k !== key) : [...list, key]);
  return (
    <dialog ref={ref} className="share-dialog" aria-labelledby="share-title" onClose={onClose} onCancel={onClose} data-testid="share-dialog">
      <h2 id="share-title">Share as lesson</h2>
      <p className="hint">
        The link opens the lab with the settings it has now. Hidden controls are not shown; locked ones are shown but cannot be changed. The lesson text appears
        above the panels.
      </p>
      <label className="grow">
        Lesson
        <textarea value={lesson} onChange={(e) => setLesson(e.target.value.slice(0, 4000))} rows={3} data-testid="share-lesson-text" />
      </label>
      <div className="share-controls">
        {PANELS.map((panel) => (
          <fieldset key={panel}>
            <legend>
              {PANEL_NAME[panel]}{' '}
              <label title={`Hide the whole ${PANEL_NAME[panel]} panel`}>
                <input type="checkbox" checked={hide.includes(panel)} onChange={() => toggle(hide, setHide, panel)} data-testid={`share-hide-${panel}`} /> hide
                panel
              </label>
            </legend>
            <table>
              <thead>
                <tr>
                  <th scope="col">control</th>
                  <th scope="col">hide</th>
                  <th scope="col">lock</th>
                </tr>
              </thead>
              <tbody>
                {CONTROLS.filter((c) => c.panel === panel).map((c) => (
                  <tr key={c.key}>
                    <td>{c.label}</td>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`hide ${c.label}`}
                        checked={hide.includes(c.key)}
                        onChange={() => toggle(hide, setHide, c.key)}
                        data-testid={`share-hide-${c.key}`}
                      />
                    </td>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`lock ${c.label}`}
                        checked={lock.includes(c.key)}
                        onChange={() => toggle(lock, setLock, c.key)}
                        data-testid={`share-lock-${c.key}`}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </fieldset>
        ))}
      </div>
      <label className="grow">
        Link <input type="text" readOnly value={link} data-testid="share-link" onFocus={(e) => e.target.select()} />
      </label>
      <div className="actions">
        <button type="button" onClick={() => void copy(link).then((ok) => setCopied(ok))} data-testid="share-copy" title="Copy the lesson link">
          Copy lesson link
        </button>
        <button type="button" className="secondary" onClick={() => ref.current?.close()} data-testid="share-close">
          Close
        </button>
        {copied && (
          <span className="hint" role="status">
            Copied.
          </span>
        )}
      </div>
    </dialog>
  );
}
