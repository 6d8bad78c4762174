import { useEffect } from 'react';
import { useGpu } from '../lab/gpuStore';
import { GpuPanel } from './GpuPanel';
import { ModelPanel } from './ModelPanel';
import { EvalPanel } from './EvalPanel';
import { SimilarityPanel } from './SimilarityPanel';
import { FusionPanel } from './FusionPanel';
import { RacePanel } from './RacePanel';
import { ComparePanel } from './ComparePanel';
import { Nav } from './Nav';
import { ExampleView } from './ExampleView';
import { Tour, TourButton } from './Tour';
import { Glossary } from './Glossary';
import { useModel } from '../lab/modelStore';
import { useSettings } from '../lab/settingsStore';
import { LessonBar } from './LessonBar';
import { useRunKeys } from './keys';

export function App() {
  const acquire = useGpu((s) => s.acquire);
  const gpuStatus = useGpu((s) => s.status);
  useRunKeys();
  useEffect(() => {
    // The GPU first (the model card checks the model against its limits; defaults depend on the adapter), then the page's
    // settings from its address, then the model they name (the built-in demo by default). Once: a second run of this effect
    // (React's development double effects) waits for the same adapter, and only the live run reads the address.
    let started = false;
    let live = true;
    const fromAddress = () => {
      const before = useSettings.getState().values.model;
      useSettings.getState().init(useGpu.getState().summary?.isFallbackAdapter ?? true);
      const model = String(useSettings.getState().values.model);
      // Without WebGPU nothing can load: the page shows the worked example instead.
      if (useGpu.getState().status !== 'error' && (!started || model !== before)) void useModel.getState().loadSpec(model);
      started = true;
    };
    void acquire().then(() => live && fromAddress());
    // A link pasted into this tab (only the hash changes, the page does not reload) applies its settings too.
    const onHash = () => started && fromAddress();
    window.addEventListener('hashchange', onHash);
    return () => {
      live = false;
      window.removeEventListener('hashchange', onHash);
    };
  }, [acquire]);
  return (
    <div className="app">
      <header className="app-header">
        <h1>
          head<span>lab</span>
        </h1>
        <p className="tagline">See which attention heads are alike, and fuse them into fewer key/value heads — on your GPU.</p>
        <TourButton />
      </header>
      <Nav />
      <LessonBar />
      <main>
        {gpuStatus === 'error' && <ExampleView />}
        <ModelPanel />
        <SimilarityPanel />
        <FusionPanel />
        <RacePanel />
        <ComparePanel />
        <EvalPanel />
        <GpuPanel />
      </main>
      <Glossary />
      <Tour />
      <footer className="app-footer">Everything runs in this tab with WebGPU compute shaders; nothing is uploaded.</footer>
    </div>
  );
}
