// The worked example's first three parts, about heads: what the KV cache costs (the head layout), which heads are alike
// (CKA maps, with what a merge costs K against V), and DHA's budgets per layer with the layout they give.
import type { ExampleData } from '../../lab/example';
import { budgetLabel } from '../../lab/fusionStore';
import { formatBytes } from '../../format';
import { HeadMap } from '../charts/HeadMap';
import { SimilarityGrid } from '../charts/SimilarityGrid';
import { BudgetBars } from '../charts/BudgetBars';
import { GlossaryLink } from '../Glossary';
import { EXAMPLE_PARTS, ExampleFigure, lossRange } from './common';

export function ExampleHeads({ data }: { data: ExampleData }) {
  const dha = data.runs.find((r) => r.method === 'dha' && (r.lane ?? 'dha') === 'dha') ?? data.runs.find((r) => r.method === 'dha');
  const heads = data.model.layouts.map((l) => ({ k: l.kHeads, v: l.vHeads }));
  const mergeLoss = lossRange(data.similarity.layers);
  return (
    <>
      <div className="example-part" id={EXAMPLE_PARTS.kv} data-testid="example-part" data-part="kv">
        <h3>1. What the KV cache costs</h3>
        <p className="hint">
          {data.model.layers} layers × {data.model.heads} query heads, each with its own K and V head: {formatBytes(data.model.kvBytesPerToken)} of keys and
          values cached per token — {data.model.layers} layers × {2 * data.model.heads} heads × {data.model.headDim} numbers × 4 bytes, counted in float32, the
          type the lab computes in (a model served in 16-bit numbers would cache half).
        </p>
        <ExampleFigure
          name="example-head-layout"
          view="head layout"
          testId="example-head-layout-export"
          chart={(ref) => (
            <HeadMap
              ref={ref}
              layouts={data.model.layouts}
              kind="example"
              caption={[`Head layout — ${data.model.name}`, 'multi-head attention: every query head has its own K and V head']}
            />
          )}
        />
      </div>
      <div className="example-part" id={EXAMPLE_PARTS.similarity} data-testid="example-part" data-part="similarity">
        <h3>2. Which heads are alike</h3>
        <p className="hint">
          <GlossaryLink term="cka">CKA</GlossaryLink> of the heads’ outputs on {data.similarity.tokens} tokens: 1 means two heads’ outputs agree up to an
          orthogonal map (any rotation or reflection of the head’s space) and a scale. A merge may turn V heads by any orthogonal map, but K heads only within
          each <GlossaryLink term="rotary-plane">rotary plane</GlossaryLink>, so CKA can call two K heads alike that no allowed rotation brings together (the
          lab’s aligned metric counts only the allowed rotations).
          {mergeLoss && (
            <>
              {' '}
              What a merge costs tells K from V more plainly here: averaging a layer’s closest pair of heads without alignment loses {mergeLoss.k} of its K{' '}
              <GlossaryLink term="energy">energy</GlossaryLink> but {mergeLoss.v} of its V energy (per layer, cheapest pair).
            </>
          )}
        </p>
        <ExampleFigure
          name="example-similarity"
          view="similarity maps"
          testId="example-similarity-export"
          chart={(ref) => (
            <SimilarityGrid
              ref={ref}
              layers={data.similarity.layers}
              kinds={['k', 'v']}
              orderOf={() => undefined}
              caption={['CKA similarity of K and V heads', `${data.model.name} · ${data.similarity.tokens} calibration tokens`]}
              onOpen={() => {}}
            />
          )}
        />
      </div>
      {dha && data.budgetPath.length > 0 && (
        <div className="example-part" id={EXAMPLE_PARTS.dha} data-testid="example-part" data-part="dha">
          <h3>3. DHA shares the budget across layers, K and V separately</h3>
          <p className="hint">
            DHA’s search (our reconstruction) costs every grouping of each layer’s K heads, and apart its V heads, by the share of the layer’s{' '}
            <GlossaryLink term="energy">energy</GlossaryLink> an aligned merge loses, then shares the budget out: a layer whose heads merge cheaply keeps fewer,
            one whose heads do not keeps more. Here K and V each keep {budgetLabel(dha.budget)} of their heads in all.
          </p>
          <ExampleFigure
            name="example-dha-budgets"
            view="budget bars"
            testId="example-dha-budgets-export"
            chart={(ref) => (
              <BudgetBars
                ref={ref}
                heads={heads}
                perLayer={dha.perLayer}
                caption={[
                  `DHA at ${budgetLabel(dha.budget)}: heads kept per layer`,
                  `${data.budgetPath.length} steps of the search from every head down to the budget`,
                ]}
              />
            )}
          />
          <ExampleFigure
            name="example-dha-layout"
            view="DHA head layout"
            testId="example-dha-layout-export"
            chart={(ref) => (
              <HeadMap
                ref={ref}
                layouts={dha.layouts}
                kind="example-dha"
                caption={[`Head layout after DHA at ${budgetLabel(dha.budget)}`, 'K and V maps differ: decoupled heads']}
              />
            )}
          />
        </div>
      )}
    </>
  );
}
