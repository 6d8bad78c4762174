// Perplexity and generation for the loaded model: the lab's yardstick for every fusion. Two models' continuations of one
// prompt can be compared side by side (the model loaded now and the one before it).
import { useState } from 'react';
import { useSettings, usePanelHidden } from '../lab/settingsStore';
import { Field } from './Field';
import { useModel } from '../lab/modelStore';
import { useEval } from '../lab/evalStore';
import { formatBytes } from '../format';
import type { DocumentSplit } from '../eval/perplexity';
import { KvCacheFields, useKvQuant } from './KvCacheFields';
import { kvCacheSizeText } from '../model/kvQuant';

const SAMPLE_URL = `${import.meta.env.BASE_URL}demo/demo-stories.txt`;

export function EvalPanel() {
  const hiddenPanel = usePanelHidden('eval');
  const { loaded, previous } = useModel();
  const { ppl, continuations, generating, runPerplexity, runGenerate, cancel } = useEval();
  const values = useSettings((s) => s.values);
  const [textFile, setTextFile] = useState<File | null>(null);
  const [split, minChars, maxDocs]: [DocumentSplit, number, number] = [values['eval.split'], values['eval.minChars'], values['eval.maxDocs']];
  const [prompt, tokens, temperature, topK, seed, compare] = [
    values['eval.prompt'],
    values['eval.tokens'],
    values['eval.temperature'],
    values['eval.topK'],
    values['eval.seed'],
    values['eval.compare'],
  ];
  const kvQuant = useKvQuant();
  if (!loaded || hiddenPanel) return null;
  const busy = ppl.running || generating;

  const startPerplexity = async () => {
    const text = textFile ? { file: textFile, name: textFile.name } : { text: await (await fetch(SAMPLE_URL)).text(), name: 'the built-in TinyStories sample' };
    void runPerplexity(loaded, text, { split, minChars, maxDocs, kvQuant });
  };

  return (
    <section id="evaluate" className="panel" aria-labelledby="eval-title" data-testid="eval-panel">
      <h2 id="eval-title">Evaluate</h2>
      <KvCacheFields />
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
            exp(mean negative log-likelihood of each next token): lower is better. Each document starts with BOS and is cut to the model's context.
          </p>
          <div className="form-row">
            <label>
              Text{' '}
              <input
                type="file"
                accept=".txt,text/plain"
                onChange={(e) => setTextFile(e.target.files?.[0] ?? null)}
                data-testid="ppl-file"
                title="A text file (or drop one here); default: the built-in TinyStories sample"
              />
            </label>
            <span className="hint" data-testid="ppl-text-name">
              {textFile ? textFile.name : 'built-in TinyStories sample'}
            </span>
          </div>
          <div className="form-row">
            <Field
              k="eval.split"
              testId="ppl-split"
              label="Split"
              options={{ endoftext: 'on <|endoftext|>', 'blank-lines': 'on blank lines' }}
              title="How the text is cut into documents"
            />
            <Field k="eval.minChars" testId="ppl-min-chars" label="min chars" title="Keep only documents longer than this many characters" />
            <Field k="eval.maxDocs" testId="ppl-max-docs" label="max docs" title="At most this many documents (0: all)" />
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
              {ppl.result.documents} documents of {ppl.result.text}; {ppl.result.seconds.toFixed(1)} s ({(ppl.result.tokens / ppl.result.seconds).toFixed(0)}{' '}
              tokens/s)
              <br />
              <span className="hint" data-testid="ppl-cache">
                through a {kvCacheSizeText(ppl.result.kvQuant, ppl.result.cache, ppl.result.cache16)}
              </span>
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
            <Field k="eval.prompt" testId="gen-prompt" label="Prompt" title="The text the model continues" />
          </div>
          <div className="form-row">
            <Field k="eval.tokens" testId="gen-tokens" label="tokens" title="Tokens to generate" />
            <Field k="eval.temperature" testId="gen-temperature" step={0.1} title="0: greedy (always the most likely token)" />
            <Field k="eval.topK" testId="gen-top-k" title="Sample among the k most likely tokens (0: all)" />
            <Field k="eval.seed" testId="gen-seed" title="The same seed gives the same text" />
          </div>
          <Field
            k="eval.compare"
            testId="gen-compare"
            className="check"
            disabled={!previous}
            label={`side by side with the previous model${previous ? ` (${previous.name})` : ''}`}
            title={previous ? `Also continue with ${previous.name}` : 'Load a second model first'}
          />
          <div className="actions">
            <button
              type="button"
              disabled={busy}
              data-testid="gen-run"
              onClick={() =>
                void runGenerate(compare && previous ? [loaded, previous] : [loaded], prompt, { maxTokens: tokens, temperature, topK, seed, kvQuant })
              }
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
                  {c.model} — {c.tokens} tokens cached{c.quantisedTokens ? ` (${c.quantisedTokens} of them quantised)` : ''}, KV cache{' '}
                  {formatBytes(c.kvCacheBytes)}
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
