import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { installPageApi } from '../lab/pageApi';
import { startPersistence } from '../lab/persistence';
import './styles.css';

installPageApi();
startPersistence();
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
