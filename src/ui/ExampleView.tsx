// A page that teaches without WebGPU: why the lab cannot compute here and how to turn WebGPU on, then a complete worked
// example on the built-in demo — head layout, head similarity, DHA's budget path (example/ExampleHeads.tsx), the conversions
// and their recovery, the trade-off (example/ExampleRuns.tsx) — computed by the lab itself (scripts/make-example.sh) and
// labelled with the adapter and date it ran on. Each part has an id (EXAMPLE_PARTS) that the tour walks when the lab cannot run.
import { useGpu } from '../lab/gpuStore';
import { GlossaryLink } from './Glossary';
import { EXAMPLE_PARTS, useExample } from './example/common';
import { ExampleHeads } from './example/ExampleHeads';
import { ExampleRuns } from './example/ExampleRuns';

const ENABLE: [string, string][] = [
  [
    'Chrome or Edge on Windows, macOS, ChromeOS',
    'WebGPU is on from version 113: update the browser; check that hardware acceleration is on (Settings → System).',
  ],
  [
    'Chrome on Linux',
    'open chrome://flags/#enable-unsafe-webgpu, set it to Enabled and relaunch (or start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan).',
  ],
  ['Chrome on Android', 'version 121 or newer on Android 12+ with a recent GPU.'],
  ['Safari', 'Safari 26 (macOS, iOS, iPadOS) has WebGPU; on older versions enable it under Develop → Feature Flags → WebGPU.'],
  ['Firefox', 'Firefox 141+ on Windows has WebGPU; elsewhere use Firefox Nightly (about:config → dom.webgpu.enabled).'],
];

export function ExampleView() {
  const error = useGpu((s) => s.error);
  const { data, problem } = useExample();
  return (
    <section className="panel" data-testid="example" aria-labelledby="example-title">
      <h2 id="example-title">This browser cannot run the lab — here is what it shows</h2>
      <div className="notice" role="status" data-testid="example-reason">
        <strong>Why:</strong> {error ?? 'WebGPU is not available.'}
      </div>
      <details open data-testid="example-enable" id={EXAMPLE_PARTS.enable}>
        <summary>How to turn WebGPU on</summary>
        <ul>
          {ENABLE.map(([where, how]) => (
            <li key={where}>
              <strong>{where}:</strong> {how}
            </li>
          ))}
        </ul>
        <p className="hint">
          The page must come from https or localhost. Then reload: the lab opens on the same built-in demo and computes everything below itself.
        </p>
      </details>
      {problem && <p className="error">{problem}</p>}
      {data && (
        <div data-testid="example-views">
          <p className="hint" data-testid="example-provenance">
            A worked example on {data.model.name}, computed by the lab on <strong>{data.adapter}</strong> on <strong>{data.date}</strong> ({data.command}).{' '}
            <GlossaryLink term="perplexity">Perplexity</GlossaryLink> is per byte (the demo reads bytes: a uniform guess scores 256, and these figures do not
            compare with per-token perplexities of other models), on {data.evalText}; the original reads them at {data.model.pplOriginal.toFixed(3)}.
          </p>
          <ExampleHeads data={data} />
          <ExampleRuns data={data} />
        </div>
      )}
    </section>
  );
}
