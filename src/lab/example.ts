// The worked example a page without WebGPU shows: one complete experiment on the built-in demo, computed by the lab itself
// (`headlab example`, scripts/make-example.sh) and shipped in public/example/. Types shared by the command that writes it and
// the view that reads it.
import type { KvLayout } from '../model/types';
import type { HeadLayout } from '../model/heads';
import type { LatentSizes } from './fusionRun';
import type { FusionMethod } from '../fusion/fuse';
import type { LayerSimilarity } from './compute/protocol';
import type { LaneKey } from './variants';

export interface ExampleRun {
  method: FusionMethod;
  /** The race lane (src/lab/variants.ts) and what was run, in words; absent in examples made before lanes. */
  lane?: LaneKey;
  label?: string;
  /** Total training tokens (DHA's own steps included): the same for every run. */
  tokens?: number;
  budget: number;
  perLayer: { k: number; v: number }[];
  /** Latent KV (MLA): per layer the latent's width and kept rotary pairs; absent for the other methods and in older examples. */
  latent?: LatentSizes;
  layouts: HeadLayout[];
  kvBytesPerToken: number;
  pplConverted: number;
  pplAfter: number;
  /** Held-out perplexity against training tokens (tokens count DHA's own steps). */
  curve: { tokens: number; ppl: number }[];
  seconds: number;
}

export interface ExampleData {
  producer: 'headlab example';
  date: string;
  adapter: string;
  command: string;
  model: { name: string; layers: number; heads: number; headDim: number; kvBytesPerToken: number; pplOriginal: number; layouts: HeadLayout[] };
  evalText: string;
  similarity: { metric: 'cka'; tokens: number; layers: LayerSimilarity[] };
  /** DHA's search at the example's budget: from every head down to the budget. */
  budgetPath: { budget: number; perLayer: { k: number; v: number }[]; layouts: Required<KvLayout>[] }[];
  /** The shared training budget (steps of batch × seqLen tokens); DHA's own steps (dhaSteps of as many tokens) come out of it. */
  training: { steps: number; batch: number; seqLen: number; lr: number; dhaSteps?: number };
  runs: ExampleRun[];
}

export const EXAMPLE_URL = 'example/demo-example.json';
