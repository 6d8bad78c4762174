// Long work reports progress the same way everywhere — the UI, the CLI and the tests all watch these events.
export interface Progress {
  stage: string;
  done: number;
  total: number;
  detail?: string;
}

export type OnProgress = (p: Progress) => void;

export interface LongWorkOptions {
  onProgress?: OnProgress;
  signal?: AbortSignal;
}
