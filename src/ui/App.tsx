import { useEffect } from 'react';
import { useGpu } from '../lab/gpuStore';
import { GpuPanel } from './GpuPanel';
import { ModelPanel } from './ModelPanel';
import { EvalPanel } from './EvalPanel';
import { SimilarityPanel } from './SimilarityPanel';
import { FusionPanel } from './FusionPanel';
import { RacePanel } from './RacePanel';
import { useModel } from '../lab/modelStore';

export function App() {
  const acquire = useGpu((s) => s.acquire);
  useEffect(() => {
    // The GPU first (the model card checks the model against its limits), then the model: ?model= or the built-in demo.
    void acquire().then(() => {
      const spec = new URLSearchParams(globalThis.location.search).get('model');
      const { loadUrl, loadDemo } = useModel.getState();
      void (spec ? loadUrl(spec) : loadDemo());
    });
  }, [acquire]);
  return (
    <div className="app">
      <header className="app-header">
        <h1>
          head<span>lab</span>
        </h1>
        <p className="tagline">See which attention heads are alike, and fuse them into fewer key/value heads — on your GPU.</p>
      </header>
      <main>
        <ModelPanel />
        <SimilarityPanel />
        <FusionPanel />
        <RacePanel />
        <EvalPanel />
        <GpuPanel />
      </main>
      <footer className="app-footer">
        Everything runs in this tab with WebGPU compute shaders; nothing is uploaded.
      </footer>
    </div>
  );
}
