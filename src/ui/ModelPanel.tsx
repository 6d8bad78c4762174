// The model panel: open a checkpoint (file picker, folder picker, drag and drop, a URL or a preset), watch it download and
// load, cancel, and read its model card (ModelCardView.tsx) and head layout. Errors name the file and the problem; the
// previous model stays loaded.
import { useRef, useState, type DragEvent } from 'react';
import { useModel } from '../lab/modelStore';
import { usePanelHidden } from '../lab/settingsStore';
import { PRESETS } from '../model/remote';
import { formatBytes } from '../format';
import { filesFromDrop, labelOf } from './dropFiles';
import { HeadLayoutView } from './HeadLayoutView';
import { ModelCardView } from './ModelCardView';

export function ModelPanel() {
  const hiddenPanel = usePanelHidden('model');
  const { status, loading, downloads, progress, loaded, card, error, notes, loadFiles, loadUrl, loadDemo, cancel, clearCache } = useModel();
  const [url, setUrl] = useState('');
  const [dragging, setDragging] = useState(false);
  const [cacheMessage, setCacheMessage] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const busy = status === 'loading';

  const onPicked = (list: FileList | null) => {
    if (!list || !list.length) return;
    const files: [string, File][] = [...list].map((f) => [f.webkitRelativePath || f.name, f]);
    void loadFiles(files, labelOf(files));
  };
  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const files = await filesFromDrop(e.dataTransfer);
    if (files.length) void loadFiles(files, labelOf(files));
  };

  if (hiddenPanel) return null;
  return (
    <section id="model" className="panel" aria-labelledby="model-title" data-testid="model-panel">
      <h2 id="model-title">Model</h2>
      <div
        className={`dropzone${dragging ? ' dragging' : ''}`}
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => void onDrop(e)}
      >
        <p>
          Drop a llama2.c <code>.bin</code> with its <code>tokenizer.bin</code>, or a Hugging Face folder (<code>config.json</code> + <code>*.safetensors</code>{' '}
          [+ <code>tokenizer.json</code>]) here, or:
        </p>
        <div className="actions">
          <button type="button" onClick={() => fileInput.current?.click()} disabled={busy} title="Pick one or more files (Ctrl/Shift-click to pick several)">
            Open files…
          </button>
          <button type="button" onClick={() => folderInput.current?.click()} disabled={busy} title="Pick a Hugging Face model folder">
            Open folder…
          </button>
          <button type="button" onClick={() => void loadDemo()} disabled={busy} title="The built-in byte-level 8-head MHA TinyStories model (no network)">
            Built-in demo
          </button>
        </div>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          data-testid="file-input"
          onChange={(e) => {
            onPicked(e.target.files);
            e.target.value = '';
          }}
        />
        <input
          ref={folderInput}
          type="file"
          hidden
          data-testid="folder-input"
          {...({ webkitdirectory: '' } as object)}
          onChange={(e) => {
            onPicked(e.target.files);
            e.target.value = '';
          }}
        />
      </div>

      <form
        className="url-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (url.trim()) void loadUrl(url.trim());
        }}
      >
        <label htmlFor="model-url">From the web</label>
        <input
          id="model-url"
          type="text"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          placeholder="hf:owner/name, a huggingface.co address, or the URL of a .bin / .safetensors"
          disabled={busy}
          data-testid="url-input"
        />
        <button type="submit" disabled={busy || !url.trim()}>
          Load
        </button>
        <select
          aria-label="Presets"
          value=""
          disabled={busy}
          onChange={(e) => {
            const p = PRESETS.find((x) => x.id === e.target.value);
            if (p) {
              setUrl(p.spec);
              void loadUrl(p.spec);
            }
          }}
          data-testid="preset-select"
        >
          <option value="">Presets…</option>
          {PRESETS.map((p) => (
            <option key={p.id} value={p.id} title={p.note}>
              {p.label}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="secondary"
          onClick={() => void clearCache().then(setCacheMessage)}
          title="Remove downloaded models from this browser's cache"
        >
          Clear cache
        </button>
      </form>
      {cacheMessage && (
        <p className="hint" role="status">
          {cacheMessage}
        </p>
      )}

      {busy && (
        <div className="loading" role="status" aria-live="polite" data-testid="model-loading">
          <p>
            Loading {loading}…{' '}
            <button type="button" className="secondary" onClick={cancel} data-testid="model-cancel">
              Cancel
            </button>
          </p>
          {downloads.map((d) => (
            <div key={d.file} className="progress-row">
              <span className="file">{d.file}</span>
              <progress max={d.total ?? undefined} value={d.loaded} aria-label={`Download of ${d.file}`} />
              <span className="bytes">{d.cached ? 'from cache' : `${formatBytes(d.loaded)}${d.total ? ` of ${formatBytes(d.total)}` : ''}`}</span>
            </div>
          ))}
          {progress && (
            <div className="progress-row">
              <span className="file">{progress.stage}</span>
              <progress max={progress.total} value={progress.done} />
              <span className="bytes">
                {progress.done} / {progress.total}
              </span>
            </div>
          )}
        </div>
      )}
      {error && (
        <div className="error" role="alert" data-testid="model-error">
          <strong>Could not load the model.</strong> {error}
          {loaded && <div className="hint">Still loaded: {loaded.name}.</div>}
        </div>
      )}
      {notes.map((n) => (
        <p key={n} className="notice">
          {n}
        </p>
      ))}
      {card && loaded && <ModelCardView card={card} name={loaded.name} />}
      {card && loaded && (
        <HeadLayoutView
          layouts={loaded.layouts}
          headDim={card.headDim}
          title={`Head layout — ${loaded.name}`}
          subtitle={`${card.layers} layers × ${card.heads} query heads`}
          kind="loaded"
          fileName={`${loaded.name.replace(/[^\w.-]+/g, '_')}-head-layout`}
          testId="model-head-layout"
        />
      )}
    </section>
  );
}
