// The GPU panel: which adapter headlab got, whether it is a CPU fallback, the limits that decide what fits, and a kernel
// self-test that compares every WGSL kernel with its CPU reference.
import { useGpu } from '../lab/gpuStore';
import { formatBytes } from '../format';
import { SELFTEST_TOLERANCE } from '../gpu/selftest';
import type { LimitName } from '../gpu/adapter';

const LIMIT_LABELS: Record<LimitName, { label: string; bytes: boolean; tip: string }> = {
  maxStorageBufferBindingSize: { label: 'Storage binding', bytes: true, tip: 'Largest tensor one kernel can read as a single buffer.' },
  maxBufferSize: { label: 'Buffer size', bytes: true, tip: 'Largest single GPU buffer.' },
  maxComputeWorkgroupStorageSize: { label: 'Workgroup memory', bytes: true, tip: 'Fast shared memory per workgroup (used by tiled kernels).' },
  maxComputeInvocationsPerWorkgroup: { label: 'Threads per workgroup', bytes: false, tip: 'Most invocations in one workgroup.' },
  maxComputeWorkgroupSizeX: { label: 'Workgroup size x', bytes: false, tip: 'Largest workgroup along x.' },
  maxComputeWorkgroupSizeY: { label: 'Workgroup size y', bytes: false, tip: 'Largest workgroup along y.' },
  maxComputeWorkgroupSizeZ: { label: 'Workgroup size z', bytes: false, tip: 'Largest workgroup along z.' },
  maxComputeWorkgroupsPerDimension: { label: 'Workgroups per dispatch axis', bytes: false, tip: 'Most workgroups along one axis of a dispatch.' },
  maxStorageBuffersPerShaderStage: { label: 'Storage buffers per kernel', bytes: false, tip: 'How many tensors one kernel can bind.' },
};

const FEATURE_TIPS: Record<string, string> = {
  'timestamp-query': 'GPU timestamps for precise kernel timings',
  subgroups: 'Subgroup operations (faster reductions)',
  'shader-f16': 'Half-precision arithmetic in shaders',
};

export function GpuPanel() {
  const { status, summary, where, error, notice, selfTest, runSelfTest, cancelSelfTest } = useGpu();
  const whereText = selfTest.where === 'page' || where === 'page' ? 'in the page' : 'in the worker';
  const passed = selfTest.results.filter((r) => r.pass).length;
  const worst = selfTest.results.reduce((m, r) => Math.max(m, r.relError), 0);
  return (
    <section id="gpu" className="panel" aria-labelledby="gpu-title" data-testid="gpu-panel">
      <h2 id="gpu-title">GPU</h2>
      {status === 'acquiring' && <p role="status">Asking the browser for a WebGPU adapter…</p>}
      {status === 'error' && (
        <div className="error" role="alert" data-testid="gpu-error">
          <strong>WebGPU is not available.</strong> {error}
        </div>
      )}
      {notice && (
        <div className="notice" role="status">
          {notice}
        </div>
      )}
      {summary && (
        <>
          <dl className="adapter" data-testid="adapter">
            <dt>Vendor</dt>
            <dd data-testid="adapter-vendor">{summary.vendor}</dd>
            <dt>Architecture</dt>
            <dd data-testid="adapter-architecture">{summary.architecture}</dd>
            {(summary.device || summary.description) && (
              <>
                <dt>Device</dt>
                <dd>{summary.description || summary.device}</dd>
              </>
            )}
            <dt>Fallback</dt>
            <dd data-testid="adapter-fallback">
              {summary.isFallbackAdapter ? (
                <span className="badge warn" title="A CPU implementation of WebGPU (such as SwiftShader): correct but slow.">
                  yes — CPU fallback, slow
                </span>
              ) : (
                <span className="badge ok" title="A hardware GPU adapter.">
                  no — hardware GPU
                </span>
              )}
            </dd>
            <dt>Compute</dt>
            <dd data-testid="compute-where" data-where={where ?? ''}>
              {where === 'page'
                ? 'on the page’s main thread (this browser offers WebGPU only there)'
                : 'in a Web Worker that owns the GPU device: the page stays responsive'}
            </dd>
            <dt>Features</dt>
            <dd>
              {['timestamp-query', 'subgroups', 'shader-f16'].map((f) => (
                <span
                  key={f}
                  className={`badge ${summary.features.includes(f) ? 'ok' : 'off'}`}
                  title={`${FEATURE_TIPS[f]}: ${summary.features.includes(f) ? 'available' : 'not available (an f32 path is used)'}`}
                >
                  {f}
                </span>
              ))}
            </dd>
          </dl>
          <table className="limits" aria-label="Adapter limits">
            <tbody>
              {(Object.keys(LIMIT_LABELS) as LimitName[]).map((k) => (
                <tr key={k} title={LIMIT_LABELS[k].tip}>
                  <th scope="row">{LIMIT_LABELS[k].label}</th>
                  <td data-testid={`limit-${k}`}>{LIMIT_LABELS[k].bytes ? formatBytes(summary.limits[k]) : summary.limits[k].toLocaleString('en')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}

      <div className="selftest">
        <h3>Kernel self-test</h3>
        <p className="hint">
          Runs every WGSL kernel on small random inputs of awkward sizes (outputs poisoned with NaN first) and compares it with a float64 CPU reference. Pass:
          ‖GPU − CPU‖ / ‖CPU‖ &lt; {SELFTEST_TOLERANCE.toExponential(0)}.
        </p>
        <div className="actions">
          <button
            type="button"
            onClick={() => void runSelfTest('worker')}
            disabled={selfTest.running || status !== 'ready'}
            title={
              where === 'page'
                ? 'In the compute core, which runs on this page (this browser has WebGPU only here)'
                : "In the compute core: the lab's Web Worker, on its GPU device"
            }
            data-testid="selftest-run"
          >
            Run self-test
          </button>
          <button
            type="button"
            onClick={() => void runSelfTest('page')}
            disabled={selfTest.running}
            title="The same kernels on a GPU device of the page's main thread, beside the core's"
            data-testid="selftest-run-page"
          >
            Run on the page
          </button>
          {selfTest.running && (
            <button type="button" onClick={cancelSelfTest} data-testid="selftest-cancel">
              Cancel
            </button>
          )}
        </div>
        {(selfTest.running || selfTest.results.length > 0) && (
          <p role="status" data-testid="selftest-summary">
            {selfTest.running
              ? `Running ${whereText}… ${selfTest.results.length} of ${selfTest.total}`
              : `${passed} of ${selfTest.results.length} kernels pass (${whereText}); largest relative error ${worst.toExponential(2)}`}
          </p>
        )}
        {selfTest.error && (
          <p className="error" role="alert">
            {selfTest.error}
          </p>
        )}
        {selfTest.results.length > 0 && (
          <table className="results" data-testid="selftest-results">
            <thead>
              <tr>
                <th scope="col">Kernel</th>
                <th scope="col">Shape</th>
                <th scope="col" title="‖GPU − CPU‖ / ‖CPU‖">
                  Relative error
                </th>
                <th scope="col">Max |Δ|</th>
                <th scope="col">Time</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {selfTest.results.map((r, i) => (
                <tr key={i} data-testid="selftest-row" data-pass={r.pass}>
                  <td>{r.kernel}</td>
                  <td>{r.shape}</td>
                  <td data-testid="selftest-relerror">{r.relError.toExponential(2)}</td>
                  <td>{r.maxAbsError.toExponential(2)}</td>
                  <td>{r.ms.toFixed(1)} ms</td>
                  <td>{r.pass ? <span className="badge ok">pass</span> : <span className="badge bad">FAIL</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
