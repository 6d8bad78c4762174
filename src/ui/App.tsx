import { useEffect } from 'react';
import { useGpu } from '../lab/gpuStore';
import { GpuPanel } from './GpuPanel';

export function App() {
  const acquire = useGpu((s) => s.acquire);
  useEffect(() => {
    void acquire();
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
        <GpuPanel />
      </main>
      <footer className="app-footer">
        Everything runs in this tab with WebGPU compute shaders; nothing is uploaded.
      </footer>
    </div>
  );
}
