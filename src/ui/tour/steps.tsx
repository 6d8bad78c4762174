// The tour's steps as data: what each says (a function of the model it runs on) and the one action it offers — every
// conversion at one budget, each step changing one thing against the step it names. The component that shows them: Tour.tsx.
import type { ReactNode } from 'react';
import { defaults, type Value } from '../../lab/settings';
import { RECIPE_KEYS } from '../../lab/fuseSettings';
import { ladder } from '../../fusion/ladder';
import { HEAD_CHOICES, OWN_STEP_DEFAULTS } from '../../fusion/recipe';
import { formatBytes } from '../../format';
import { EXAMPLE_PARTS } from '../example/common';
import { GlossaryLink } from '../Glossary';
import { MLA_DEFAULTS } from '../../fusion/mlaDefaults';
import type { FusionMethod } from '../../fusion/fuse';

import { BUDGET } from './budget';
import { KV_QUANT_MEASURED, measured, PROGRESSIVE_MEASURED } from './measured';

export { BUDGET };

/** What the tour says about the model it runs on: the loaded model's card, or the worked example's model. */
export interface ModelFacts {
  name: string;
  layers: number;
  heads: number;
  headDim: number;
  kv: { k: number; v: number }[];
  kvBytes: number;
  /** Rotary position embedding: K heads may only be turned within rotary planes. */
  rotary: boolean;
  /** A byte-level vocabulary: perplexity per byte. */
  bytes: boolean;
}

export interface Context {
  facts: ModelFacts | null;
  /** Without WebGPU: the worked example stands in for the panels. */
  example: boolean;
  /** The methods the worked example ran (empty while it loads, and in the lab). */
  exampleMethods: FusionMethod[];
}

export interface TourStep {
  /** The panel the step talks about, and the worked example's part when the lab cannot run. */
  target: string;
  exampleTarget: string;
  title: string;
  text: (c: Context) => ReactNode;
  action?: { label: string; settings?: (fallback: boolean) => Record<string, Value>; press: string };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The model's layout in words: its own layer, query-head, K-head and V-head counts. */
function layoutText(f: ModelFacts): string {
  const ks = f.kv.map((x) => x.k);
  const vs = f.kv.map((x) => x.v);
  const uniform = ks.every((k) => k === ks[0]) && vs.every((v) => v === vs[0]);
  const [k, v] = [ks[0], vs[0]];
  if (uniform && k === f.heads && v === f.heads)
    return `${f.layers} layers × ${f.heads} query heads, and every layer has ${k} K heads and ${v} V heads: multi-head attention (MHA), each query head with its own K and V head.`;
  if (uniform && k === v)
    return `${f.layers} layers × ${f.heads} query heads, and every layer has ${k} K heads and ${v} V heads: grouped-query attention (GQA), ${f.heads / k} query heads sharing each K/V head.`;
  return `${f.layers} layers × ${f.heads} query heads, with K and V head counts of its own in every layer (K ${ks.join('/')}, V ${vs.join('/')}): decoupled heads, as DHA leaves them.`;
}

/** The perplexity's unit, said where the first perplexity appears. */
function perplexityNote(c: Context): ReactNode {
  if (c.facts && !c.facts.bytes) return null;
  return (
    <>
      {' '}
      The demo reads bytes, so its <GlossaryLink term="perplexity">perplexity</GlossaryLink> is per byte: a uniform guess scores 256, and its figures do not
      compare with per-token figures of other models.
    </>
  );
}

/** Every conversion step sets the whole conversion, so that a step reached by a link runs what it says. */
const fuse = (s: Record<string, Value>) => (): Record<string, Value> => ({
  'fuse.budget': BUDGET,
  'fuse.train.steps': 0,
  ...Object.fromEntries(Object.values(RECIPE_KEYS).map((k) => [k, 'preset'])),
  'fuse.stepsAuto': true,
  'fuse.fusionTrains': OWN_STEP_DEFAULTS.fusionTrains,
  ...s,
});
/** A rung of the ladder (src/fusion/ladder.ts) as the Fuse panel's settings: its preset and every choice spelled out. */
const rung = (name: string, ownSteps?: number) => {
  const r = ladder({ training: false, fallback: true }, ownSteps ?? 0).find((x) => x.name === name)!.recipe;
  const choices = Object.fromEntries(HEAD_CHOICES.map((c) => [RECIPE_KEYS[c.key], r[c.key]]));
  return fuse({
    'fuse.method': r.preset,
    ...choices,
    'fuse.fusionTrains': r.own.fusionTrains,
    'fuse.stepsAuto': false,
    'fuse.steps': ownSteps ?? r.ownSteps,
  });
};

export const STEPS: TourStep[] = [
  {
    target: 'model',
    exampleTarget: EXAMPLE_PARTS.kv,
    title: 'What the KV cache costs',
    text: ({ facts: f }) => (
      <>
        While a model generates, every layer keeps the key (K) and value (V) vectors of every earlier token: the KV cache. Its size grows with the number of K
        and V heads.{' '}
        {f ? (
          <span data-testid="tour-model-facts">
            {f.name}: {layoutText(f)} Its cache: {formatBytes(f.kvBytes)} per token — ({sum(f.kv.map((x) => x.k))} K + {sum(f.kv.map((x) => x.v))} V heads over
            all layers) × {f.headDim} numbers × 4 bytes, counted in float32, the type the lab computes in. Every conversion in this tour keeps {BUDGET} % of
            this cache, and each step changes one thing against the step before it (or the one it names).
          </span>
        ) : (
          <span data-testid="tour-model-facts">The model is still loading: its own head counts appear here when it has arrived.</span>
        )}
      </>
    ),
  },
  {
    target: 'similarity',
    exampleTarget: EXAMPLE_PARTS.similarity,
    title: 'Which heads are alike',
    text: ({ facts: f, example }) => (
      <>
        Two heads whose outputs are alike can share one K/V head at little cost — if one can be turned onto the other without changing what the model computes.
        V heads may be turned by any orthogonal map (undone in the output projection);{' '}
        {f && !f.rotary ? (
          <>this model has no rotary embedding, so K heads may too.</>
        ) : (
          <>
            K heads only within each <GlossaryLink term="rotary-plane">rotary plane</GlossaryLink>, which RoPE turns with position.
          </>
        )}{' '}
        The aligned metric scores two heads after the best allowed turn; CKA{example ? ', which the worked example shows,' : ' (the panel’s default)'} allows
        any orthogonal map for K heads too, so it can call two K heads alike that no allowed turn brings together. The redundancy numbers are the cost of
        averaging a layer’s closest pair <em>without</em> alignment, as a share of the layer’s <GlossaryLink term="energy">energy</GlossaryLink>: a weak head
        looks cheap.
      </>
    ),
    action: { label: 'Compute aligned similarity', settings: () => ({ 'sim.metric': 'aligned' }), press: 'sim-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: `GQA mean-pool at ${BUDGET} %`,
    text: (c) => {
      const f = c.facts;
      const divides = !f || f.kv.every((x) => Number.isInteger((x.k * Number(BUDGET)) / 100) && Number.isInteger((x.v * Number(BUDGET)) / 100));
      return (
        <>
          Grouped-query attention (GQA, Ainslie et al. 2023) lets a group of query heads share one K/V head; converting a checkpoint averages each group’s K
          weights and V weights. Mean-pool takes contiguous groups, the same in every layer
          {f && divides ? ` (${f.kv[0].k} → ${(f.kv[0].k * Number(BUDGET)) / 100} K heads per layer at ${BUDGET} %)` : ''}, whatever the heads compute: heads
          that compute alike things in different coordinates partly cancel when averaged.
          {!divides && ` This model's head counts do not split into whole groups at ${BUDGET} %, so mean-pool will refuse it here.`}
          {perplexityNote(c)}
        </>
      );
    },
    action: { label: `Fuse with mean-pool at ${BUDGET} %`, settings: fuse({ 'fuse.method': 'meanpool' }), press: 'fusion-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: 'Group heads by cost, not by index',
    text: () => (
      <>
        One change against mean-pool: which heads share. Mean-pool groups neighbours by index (heads 0–3, 4–7); here each layer’s heads are grouped so that
        averaging them loses the least <GlossaryLink term="energy">energy</GlossaryLink> on the calibration text — still equal groups, one partition for K and
        V, plain averages. Heads that compute alike things lose less when averaged than neighbours that do not — unless they compute them in rotated bases,
        which the next step handles.
        {measured('groups by cost')}
      </>
    ),
    action: { label: `Fuse at ${BUDGET} %: mean-pool with groups by cost`, settings: rung('groups by cost'), press: 'fusion-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: 'Align before you average',
    text: () => (
      <>
        One change: alignment. A V head may be turned if its output projection turns back, a K head within each rotary plane if its query heads turn the same
        way: the model computes the same function. Each group is turned onto its mean (<GlossaryLink term="gpa">GPA</GlossaryLink>) before averaging, and the
        grouping now counts what the aligned merge loses. This is Align-heads’ alignment step (Jin et al.); the paper’s training with gates that fade each head
        into the merged one is not built here. Renormalisation is still off, so that only alignment changes.
        {measured('alignment')}
      </>
    ),
    action: { label: `Fuse at ${BUDGET} %: aligned, not renormalised`, settings: rung('alignment'), press: 'fusion-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: 'Give merged heads their energy back',
    text: () => (
      <>
        One change: renormalisation. Heads that still differ after alignment partly cancel when averaged, so a merged head has less energy than its members.
        Rescaling it to their mean energy (ours) gives back much of what was lost. With it, this is the lab’s aligned merge — the method of that name in the
        Fuse panel.
        {measured('renormalisation')}
      </>
    ),
    action: { label: `Fuse with the aligned merge at ${BUDGET} %`, settings: rung('renormalisation'), press: 'fusion-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: 'Partition K and V apart',
    text: () => (
      <>
        One change: K heads and V heads get a partition each. So far one partition served both, as GQA needs (a query head reads one K/V pair); heads whose keys
        are alike may have unlike values, and the reverse. The result is no longer a GQA model: each query head reads a K head and a V head of its own choosing
        — decoupled heads. Watch the head layout: K and V maps differ.
        {measured('separate K/V groups')}
      </>
    ),
    action: { label: `Fuse at ${BUDGET} %: the aligned merge with separate K/V groups`, settings: rung('separate K/V groups'), press: 'fusion-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: 'Let groups differ in size',
    text: () => (
      <>
        One change: groups of any size within a layer. A head unlike the others can stay alone while alike heads share — the same number of groups, the same
        bytes.
        {measured('free group sizes')}
      </>
    ),
    action: { label: `Fuse at ${BUDGET} %: separate K/V groups of free sizes`, settings: rung('free group sizes'), press: 'fusion-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.dha,
    title: 'A head count for every layer (DHA)',
    text: ({ example }) => (
      <>
        One change: each layer keeps its own number of K and of V heads. Some layers lose little when merged hard, others much; the search shares the budget out
        where merging costs least (an exact dynamic programme over the layers’ cost curves). With the last two steps, this is Decoupled-Head Attention (DHA,
        Chen et al., NeurIPS 2024) as reconstructed here, with none of its own steps. The paper learns fusion operators and continues pre-training; neither is
        built here (docs/FUSION.md).{example ? '' : ' Watch the budget bars play the search from every head down to the budget.'}
        {measured('per-layer counts')}
      </>
    ),
    action: { label: `Fuse with DHA at ${BUDGET} % (none of its own steps)`, settings: rung('per-layer counts'), press: 'fusion-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.dha,
    title: 'One budget for K and V together',
    text: ({ example }) => (
      <>
        One change: the K total against the V total. So far K and V each kept {BUDGET} % of their heads. But V heads are far less alike than K heads: on
        tinystories-mha, averaging a layer’s closest pair loses 9.6–11.0 % of its V energy against 2.8–4.8 % of its K energy (docs/RESULTS.md, “Head
        similarity”){example ? '; part 2 of the example shows the gap on the demo' : '; the redundancy bars show it on this model'}. A joint budget — {BUDGET} %
        of all K and V heads — lets the search keep more V heads and fewer K heads where that loses less, for the same cache size.
        {measured('joint K+V budget')}
      </>
    ),
    action: { label: `Fuse with DHA at ${BUDGET} %, one joint K+V budget`, settings: rung('joint K+V budget'), press: 'fusion-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: 'DHA’s own training',
    text: () => (
      <>
        One change: DHA’s own steps. The fused model’s attention learns, layer by layer, to reproduce the original layer’s output, on the merged model’s own
        inputs (<GlossaryLink term="gptq-style">GPTQ-style</GlossaryLink>; this adapter’s default number of steps), and the state whose{' '}
        <GlossaryLink term="kl">KL</GlossaryLink> to the original is lowest on calibration text is kept. These steps cost training tokens: at equal tokens (the
        race, next but one) they come out of the same total.
        {measured('own steps')}
      </>
    ),
    action: {
      label: `Fuse with DHA at ${BUDGET} % (joint budget) and its own steps`,
      settings: (fallback) => rung('own steps', defaults(fallback)['fuse.steps'])(),
      press: 'fusion-run',
    },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: 'Fuse progressively instead of at once',
    text: () => (
      <>
        One change against DHA’s own steps: the same steps fuse each group progressively, as the DHA paper does, instead of merging it at once and repairing the
        damage. Nothing is merged at first: every K (and V) head becomes a learned mix of its group’s heads, starting from itself — the model is the original —
        and the mixes train end to end toward the original while an <GlossaryLink term="lagrangian">augmented Lagrangian</GlossaryLink> pulls the rows of each
        group together; once they agree, each group collapses to one head without changing the model. The Fuse panel draws the mixes as heatmaps while they
        converge. {PROGRESSIVE_MEASURED}
      </>
    ),
    action: {
      label: `Fuse with DHA at ${BUDGET} %, progressively (every weight training)`,
      settings: (fallback) => rung('fusion trains every weight', defaults(fallback)['fuse.steps'])(),
      press: 'fusion-run',
    },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.methods,
    title: 'Latent KV: keep every head, share a latent',
    text: ({ facts: f, example, exampleMethods }) => (
      <>
        One change against DHA with one joint budget (three steps back, no training of its own), and a second family beside the ladder: what the cache holds.
        Every layer caches one small vector per token, the <GlossaryLink term="latent">latent</GlossaryLink>, and every head rebuilds its own key and value from
        it: the heads stay distinct, and the cache holds d_c numbers instead of every head’s key and value (MHA2MLA, Ji et al. 2025).{' '}
        {f && !f.rotary ? (
          <>This model has no rotary embedding, so the latent is all it caches: d_c fills the same {BUDGET} % of the cache.</>
        ) : (
          <>
            RoPE is split off: a latent model is served with <GlossaryLink term="absorbed">absorbed attention</GlossaryLink>, each head’s key map folded into
            its query, and a turn that depends on the position cannot be folded once — so each K head keeps RoPE on a few{' '}
            <GlossaryLink term="partial-rope">rotary pairs</GlossaryLink>, cached apart, and its other pairs stop turning. headlab rebuilds K and V instead of
            scoring absorbed: the same numbers. Latent and rotary dims together fill the same {BUDGET} % of the cache.
          </>
        )}{' '}
        {!example
          ? 'The K/V spectrum in the Head similarity panel shows how much of each layer’s K/V weights that latent width keeps.'
          : exampleMethods.includes('mla')
            ? 'In the worked example, compare the latent’s row with DHA’s.'
            : 'The worked example has no latent run: with WebGPU on, this step runs one.'}
      </>
    ),
    action: {
      label: `Convert to a latent KV cache at ${BUDGET} %`,
      settings: fuse({ 'fuse.method': 'mla', 'fuse.ropeSelect': MLA_DEFAULTS.ropeSelect, 'fuse.latentInit': MLA_DEFAULTS.latentInit, 'fuse.ropeAuto': true }),
      press: 'fusion-run',
    },
  },
  {
    target: 'recover',
    exampleTarget: EXAMPLE_PARTS.recovery,
    title: 'Recovery at equal tokens',
    text: () => (
      <>
        A converted model recovers with training toward the original: end to end, every weight, KL distillation on the calibration text (the paper continues
        pre-training instead). The race converts the model with each method at {BUDGET} % and trains every result on the same total of training tokens — DHA’s
        own layer-local steps come out of that total — and draws held-out perplexity against tokens. Which start recovers best for a given budget of tokens?
        Read it off the chart, not off the method’s name.
      </>
    ),
    action: { label: `Run the race at ${BUDGET} %`, settings: () => ({ 'race.budget': BUDGET }), press: 'race-run' },
  },
  {
    target: 'compare',
    exampleTarget: EXAMPLE_PARTS.tradeoff,
    title: 'The trade-off',
    text: ({ example }) => (
      <>
        Every run is a point: KV-cache bytes per token (float32) against held-out perplexity; lower left is better. Set runs side by side only at the same
        budget and the same training tokens — then the gap belongs to what changed.
        {example ? '' : ' Click a results row to draw its head layout, and compare one head’s attention before and after.'}
      </>
    ),
  },
  {
    target: 'evaluate',
    exampleTarget: EXAMPLE_PARTS.tradeoff,
    title: 'Fewer bits: where should the next byte go?',
    text: ({ example }) => (
      <>
        A third way to a smaller cache: keep every head and every number, in fewer bits — a <GlossaryLink term="kv-quant">quantised KV cache</GlossaryLink>. It
        trains nothing, so it stacks on any conversion: DHA at 50 % through an 8-bit cache, a latent through a 4-bit one. At equal bytes, which way spends a
        byte best — heads, a latent, or bits, or a mix? {KV_QUANT_MEASURED}{' '}
        {example
          ? 'With WebGPU on, the Evaluate panel’s KV cache row measures any model through it.'
          : 'Measure the loaded model through a 4-bit cache; then change the bits, the group or the keys’ rotary side, one at a time.'}
      </>
    ),
    action: { label: 'Measure perplexity through a 4-bit KV cache', settings: () => ({ 'eval.kvBits': '4' }), press: 'ppl-run' },
  },
  {
    target: 'fuse',
    exampleTarget: EXAMPLE_PARTS.enable,
    title: 'What to try next',
    text: ({ example }) => (
      <>
        {example ? 'With WebGPU on (above), change' : 'Change'} one thing at a time: 50 % instead of {BUDGET} %; any choice of the recipe on its own (the Fuse
        panel’s recipe disclosure; `headlab ladder` climbs them all with several seeds); more or fewer DHA steps at the same total of training tokens; the
        latent’s rotary pairs (how many, which); recovery training of K/V only; your own checkpoint (Model panel). Share a setup with Copy link or Share as
        lesson. Papers: GQA arXiv 2305.13245; Align-heads arXiv 2412.20677; DHA arXiv 2406.06567 (the paper is public, its code is not); MHA2MLA arXiv
        2502.14837.
      </>
    ),
  },
];
