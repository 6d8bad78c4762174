import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { installPageApi } from '../lab/pageApi';
import { useGpu } from '../lab/gpuStore';
import './styles.css';

installPageApi(() => useGpu.getState().runtime);
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
