// Perplexity and generation for the loaded model: the lab's yardstick for every fusion. Two models' continuations of one
// prompt can be compared side by side (the model loaded now and the one before it).
import { useState } from 'react';
import { useModel } from '../lab/modelStore';
import { useEval } from '../lab/evalStore';
import { formatBytes } from '../gpu/errors';
import type { DocumentSplit } from '../eval/perplexity';

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;

export function EvalPanel() {
  const { loaded, previous } = useModel();
  const { ppl, continuations, generating, runPerplexity, runGenerate, cancel } = useEval();
  const [split, setSplit] = useState<DocumentSplit>('endoftext');
  const [minChars, setMinChars] = useState(0);
  const [maxDocs, setMaxDocs] = useState(20);
  const [textFile, setTextFile] = useState<File | null>(null);
  const [prompt, setPrompt] = useState('Once upon a time');
  const [tokens, setTokens] = useState(80);
  const [temperature, setTemperature] = useState(0);
  const [topK, setTopK] = useState(40);
  const [seed, setSeed] = useState(1);
  const [compare, setCompare] = useState(false);
  if (!loaded) return null;
  const busy = ppl.running || generating;

  const startPerplexity = async () => {
    const text = textFile ? await textFile.text() : await (await fetch(SAMPLE_URL)).text();
    void runPerplexity(loaded, text, textFile ? textFile.name : 'the built-in TinyStories sample', { split, minChars, maxDocs });
  };

  return (
    <section className="panel" aria-labelledby="eval-title" data-testid="eval-panel">
      <h2 id="eval-title">Evaluate</h2>
      <div className="eval-grid">
        <div
          onDragOver={(e) => e.preventDefault()}
          onDrop={(e) => {
            e.preventDefault();
            const f = e.dataTransfer.files[0];
            if (f) setTextFile(f);
          }}
          data-testid="ppl-dropzone"
        >
          <h3>Perplexity</h3>
          <p className="hint">
            exp(mean negative log-likelihood of each next token): lower is better. Each document starts with BOS and is cut to the
            model's context.
          </p>
          <div className="form-row">
            <label>
              Text{' '}
              <input type="file" accept=".txt,text/plain" onChange={(e) => setTextFile(e.target.files?.[0] ?? null)} data-testid="ppl-file" title="A text file (or drop one here); default: the built-in TinyStories sample" />
            </label>
            <span className="hint" data-testid="ppl-text-name">{textFile ? textFile.name : 'built-in TinyStories sample'}</span>
          </div>
          <div className="form-row">
            <label title="How the text is cut into documents">
              Split{' '}
              <select value={split} onChange={(e) => setSplit(e.target.value as DocumentSplit)}>
                <option value="endoftext">on &lt;|endoftext|&gt;</option>
                <option value="blank-lines">on blank lines</option>
              </select>
            </label>
            <label title="Keep only documents longer than this many characters">
              min chars <input type="number" min={0} value={minChars} onChange={(e) => setMinChars(Number(e.target.value))} />
            </label>
            <label title="At most this many documents (0: all)">
              max docs <input type="number" min={0} value={maxDocs} onChange={(e) => setMaxDocs(Number(e.target.value))} data-testid="ppl-max-docs" />
            </label>
          </div>
          <div className="actions">
            <button type="button" onClick={() => void startPerplexity()} disabled={busy} data-testid="ppl-run">
              Measure perplexity
            </button>
            {ppl.running && (
              <button type="button" className="secondary" onClick={cancel}>
                Cancel
              </button>
            )}
          </div>
          {ppl.running && ppl.progress && (
            <p role="status">
              <progress max={ppl.progress.total} value={ppl.progress.done} /> {ppl.progress.done} / {ppl.progress.total} documents
            </p>
          )}
          {ppl.result && (
            <p className="result" role="status" data-testid="ppl-result">
              Perplexity <strong data-testid="ppl-value">{ppl.result.ppl.toFixed(4)}</strong> — {ppl.result.tokens.toLocaleString('en')} predicted tokens in{' '}
              {ppl.result.documents} documents of {ppl.result.text}; {ppl.result.seconds.toFixed(1)} s (
              {(ppl.result.tokens / ppl.result.seconds).toFixed(0)} tokens/s)
            </p>
          )}
          {ppl.error && (
            <p className="error" role="alert">
              {ppl.error}
            </p>
          )}
        </div>
        <div>
          <h3>Generate</h3>
          <div className="form-row">
            <label className="grow">
              Prompt <input type="text" value={prompt} onChange={(e) => setPrompt(e.target.value)} data-testid="gen-prompt" />
            </label>
          </div>
          <div className="form-row">
            <label title="Tokens to generate">
              tokens <input type="number" min={1} max={1000} value={tokens} onChange={(e) => setTokens(Number(e.target.value))} data-testid="gen-tokens" />
            </label>
            <label title="0: greedy (always the most likely token)">
              temperature <input type="number" min={0} step={0.1} value={temperature} onChange={(e) => setTemperature(Number(e.target.value))} />
            </label>
            <label title="Sample among the k most likely tokens (0: all)">
              top-k <input type="number" min={0} value={topK} onChange={(e) => setTopK(Number(e.target.value))} />
            </label>
            <label title="The same seed gives the same text">
              seed <input type="number" min={0} value={seed} onChange={(e) => setSeed(Number(e.target.value))} />
            </label>
          </div>
          <label className="check" title={previous ? `Also continue with ${previous.name}` : 'Load a second model first'}>
            <input type="checkbox" checked={compare && !!previous} disabled={!previous} onChange={(e) => setCompare(e.target.checked)} /> side by side with the
            previous model{previous ? ` (${previous.name})` : ''}
          </label>
          <div className="actions">
            <button
              type="button"
              disabled={busy}
              data-testid="gen-run"
              onClick={() => void runGenerate(compare && previous ? [loaded, previous] : [loaded], prompt, { maxTokens: tokens, temperature, topK, seed })}
            >
              Generate
            </button>
            {generating && (
              <button type="button" className="secondary" onClick={cancel}>
                Stop
              </button>
            )}
          </div>
          <div className={`continuations n${continuations.length}`}>
            {continuations.map((c, i) => (
              <div key={i} className="continuation" data-testid="continuation">
                <div className="hint">
                  {c.model} — {c.tokens} tokens cached, KV cache {formatBytes(c.kvCacheBytes)}
                </div>
                <p data-testid="continuation-text">
                  <strong>{prompt}</strong>
                  {c.text}
                  {!c.done && <span className="cursor">▍</span>}
                </p>
                {c.error && <p className="error">{c.error}</p>}
              </div>
            ))}
          </div>
        </div>
      </div>
    </section>
  );
}
