// What the page and the compute core say to each other. The core (src/lab/compute/host.ts) owns the GPU device, the loaded
// models and the fused results; it runs in a Web Worker (the normal path) or, where a browser offers WebGPU only on the main
// thread, on the page itself. The page sends jobs and controls; the core answers each job with events, then a result or an
// error. Models and results stay in the core, named by ids; files travel as transferred ArrayBuffers.
import type { AdapterSummary } from '../../gpu/adapter';
import type { ModelCard } from '../../model/card';
import type { HeadLayout } from '../../model/heads';
import type { DownloadProgress } from '../../model/remote';
import type { Progress } from '../../progress';
import type { SimilarityMetric } from '../../analysis/similarity';
import type { MergeLoss } from '../../analysis/redundancy';
import type { DocumentSplit, PerplexityResult } from '../../eval/perplexity';
import type { SamplingOptions } from '../../eval/generate';
import type { KvCacheSize, KvQuant } from '../../model/kvQuant';
import type { SelfTestResult } from '../../gpu/selftest';
import type { MatmulShape, MatmulVariant } from '../../gpu/kernels/matmul';
import type { DhaEvent } from '../../fusion/ownSteps';
import type { TrainEvent } from '../../train/trainer';
import type { FusionTexts, ResultRow, RunConfig } from '../fusionRun';

/** A model the core holds, as the page sees it. */
export interface ModelHandle {
  id: number;
  name: string;
  /** The weights' hash (src/fusion/export.ts): saved results are tagged with it. */
  hash: string;
  card: ModelCard;
  notes: string[];
  hasTokenizer: boolean;
  /** Each layer's head layout, with where its heads came from and a latent (MLA) layer's shape (the head-layout diagram). */
  layouts: HeadLayout[];
}

export interface LayerSimilarity {
  layer: number;
  /** Query heads: not fusable into KV heads, shown for teaching. */
  q: number[][];
  k: number[][];
  v: number[][];
  /** Merge loss of the K and V heads; null for weight-cosine, which runs no calibration pass. */
  redundancy: { k: MergeLoss; v: MergeLoss } | null;
}

/** One layer's K/V spectrum (src/fusion/mla.ts kvSpectrum) and the latent a KV budget would give it (mlaSizes): weights only. */
export interface LayerSpectrum {
  layer: number;
  /** The singular values of the layer's stacked [W_k ; W_v], largest first. */
  singular: number[];
  /** d_c and the rotary pairs each of the layer's K heads keeps at the budget, or why the budget leaves no room for a latent. */
  latent: { rank: number; ropePairs: number; kHeads: number } | { problem: string };
}

/** A text for a job: its content, or a file the core reads. */
export type TextSource = { text: string; name: string } | { file: Blob; name: string };

/** Where a model comes from; `base` is the page's address, against which relative URLs resolve. */
export type ModelSource =
  { kind: 'files'; files: [string, Blob][]; label: string } | { kind: 'url'; spec: string; base: string } | { kind: 'demo'; url: string; base: string };

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
type NoArgs = {};

/** Every job with its arguments, the events it sends, and its result. */
export interface Jobs {
  init: { args: NoArgs; event: never; result: AdapterSummary };
  load: { args: { source: ModelSource }; event: { progress?: Progress; download?: DownloadProgress }; result: ModelHandle };
  release: { args: { modelId?: number; resultId?: number }; event: never; result: null };
  similarity: {
    args: { modelId: number; metric: SimilarityMetric; text: string; maxTokens: number };
    event: { stage?: string; tokens?: number; layer?: LayerSimilarity };
    result: { tokens: number };
  };
  spectrum: { args: { modelId: number; budget: number }; event: { layer: LayerSpectrum }; result: null };
  perplexity: {
    args: { modelId: number; text: TextSource; split: DocumentSplit; minChars: number; maxDocs: number; kvQuant: KvQuant | null };
    event: { progress: Progress };
    /** With the cache it was measured through and its size at the longest document (16-bit-equivalent bytes). */
    result: PerplexityResult & { text: string; kvQuant: KvQuant | null; cache: KvCacheSize; cache16: KvCacheSize };
  };
  generate: {
    args: { source: { modelId: number } | { resultId: number }; prompt: string; opts: Omit<SamplingOptions, 'signal'> };
    event: { text: string; cachedTokens: number; kvCacheBytes: number; quantisedTokens: number };
    result: null;
  };
  fuse: {
    args: {
      modelId: number;
      config: RunConfig;
      texts: { calibration: TextSource; evaluation: TextSource & { heldOutDocs: number; kvQuant?: KvQuant | null }; sameText: boolean };
    };
    event: { stage?: string; dha?: DhaEvent; train?: TrainEvent; before?: { ppl: number; evalName: string }; waiting?: boolean };
    /** The results-table row (its id is the core's result id) and the names of the files it offers. */
    result: ResultRow;
  };
  file: { args: { resultId: number; name: string }; event: never; result: ArrayBuffer };
  attention: {
    args: { source: { modelId: number } | { resultId: number }; prompt: string; layer: number; head: number };
    event: never;
    /** The prompt's tokens as text and the head's attention probabilities P[query][key] (row t has t + 1 entries). */
    result: { tokens: string[]; probs: number[][]; kHead: number; vHead: number };
  };
  selftest: { args: NoArgs; event: SelfTestResult; result: { host: string } };
  matmul: { args: { a: number[]; b: number[]; shape: MatmulShape; variant?: MatmulVariant }; event: never; result: number[] };
  clearCache: { args: NoArgs; event: never; result: boolean };
}

export type JobType = keyof Jobs;
export type Request = { [T in JobType]: { id: number; type: T } & Jobs[T]['args'] }[JobType];
export type Control = { id: number; control: 'pause' | 'resume' | 'step' | 'cancel' };
export type Message = Request | Control;

export function isControl(m: Message): m is Control {
  return 'control' in m;
}

export type Reply =
  | { id: number; kind: 'event'; event: unknown }
  | { id: number; kind: 'done'; result: unknown }
  | { id: number; kind: 'error'; name: string; message: string }
  /** Not tied to a job: the device was lost and recreated, and so on. */
  | { id: 0; kind: 'notice'; message: string; status: 'lost' | 'recovered' | 'failed' };

export type { RunConfig, FusionTexts };
