// The recovery race's chart and table: held-out perplexity against total training tokens (DHA's own steps included), one
// line per lane in its method's colour (DHA's variants dashed apart) — with several seeds their mean, in a band from the
// lowest to the highest — the original as a dashed black line, a log-scale switch; and a table that reads every lane at the
// same token counts — the shared total and, where every lane measured one, a common intermediate count — with compute time
// beside. A winner is bold only where all lanes were read at the same tokens and, with several seeds, beyond their spread.
import { useRef } from 'react';
import { raceCsv, type Race, type RaceLane } from '../lab/raceStore';
import { bestAtEqualTokens, bestBeyondSpread, laneTokens, midpointTokens, pplAt } from '../lab/raceLanes';
import { LANE_BY_KEY } from '../lab/variants';
import { budgetLabel, compactShape, shapeLines } from '../lab/fusionRun';
import { LineChart, type Series } from './charts/LineChart';
import { ChartFrame } from './charts/ChartFrame';
import { downloadBlob } from './charts/exportImage';
import { KV_SHAPE_HEADER, LANE_DASH, METHOD_COLOUR } from './fusion/common';

const STATUS: Record<string, string> = { waiting: 'waiting', converting: 'converting…', training: 'training…', done: 'done', failed: 'failed' };
const n = (x: number) => x.toLocaleString('en');

/** A line of the lane's colour and dash, as in the chart's legend. */
function LaneSwatch({ lane }: { lane: RaceLane }) {
  return (
    <svg width={22} height={10} aria-hidden className="lane-swatch">
      <line x1={0} x2={22} y1={5} y2={5} stroke={METHOD_COLOUR[lane.method]} strokeWidth={3} strokeDasharray={LANE_DASH[lane.key]} />
    </svg>
  );
}

export function RaceView({ race }: { race: Race }) {
  const chart = useRef<SVGSVGElement>(null);
  const train = race.settings.train!;
  const tokensPerStep = train.batch * train.seqLen;
  const planned = tokensPerStep * train.steps;
  const xMax = Math.max(planned, ...race.lanes.flatMap((l) => l.curve.map((p) => p.tokens)));
  const series: Series[] = race.lanes.map((l) => ({
    key: l.key,
    label: l.label,
    colour: METHOD_COLOUR[l.method],
    dash: LANE_DASH[l.key],
    points: l.curve.filter((p) => p.ppl !== null).map((p) => ({ x: p.tokens, y: p.ppl! })),
    band: l.band && (l.runs?.length ?? 0) > 1 ? l.band.map((b) => ({ x: b.tokens, lo: b.lo, hi: b.hi })) : undefined,
  }));
  const seeds = Math.max(1, ...race.lanes.map((l) => l.runs?.length ?? 1));
  if (race.pplOriginal !== null)
    series.push({
      key: 'original',
      label: 'original',
      colour: '#000000',
      dashed: true,
      points: [
        { x: 0, y: race.pplOriginal },
        { x: xMax, y: race.pplOriginal },
      ],
    });
  const name = `${race.model.replace(/[^\w.-]+/g, '_')}-race-${Math.round(race.budget * 1000) / 10}`;

  // Readings at equal tokens: each lane's total (finished lanes' own; planned for the others), the final perplexity at it,
  // and the common intermediate reading of the finished lanes.
  const done = race.lanes.filter((l) => l.status === 'done');
  const tokens = race.lanes.map((l) => (l.status === 'done' ? laneTokens(l) : l.status === 'failed' ? null : planned));
  const finals = race.lanes.map((l) =>
    l.status === 'done' ? (l.after ?? (l.pplAfter === null ? null : { mean: l.pplAfter, min: l.pplAfter, max: l.pplAfter, n: 1 })) : null,
  );
  const bestFinal = bestBeyondSpread(finals, tokens);
  // Lanes read at the same tokens whose lowest is not beyond the spread of seeds: no measurable difference.
  const undecided =
    seeds > 1 &&
    bestFinal === null &&
    bestAtEqualTokens(
      finals.map((f) => f?.mean ?? null),
      tokens,
    ) !== null;
  const totals = new Set(done.map(laneTokens));
  const shared = totals.size === 1 ? [...totals][0]! : null;
  const mid = done.length && shared !== null ? midpointTokens(done, shared) : null;
  /** The quantised cache the race also evaluated through (any finished lane names it). */
  const kv = race.lanes.find((l) => l.kv)?.kv ?? null;
  const mids = race.lanes.map((l) => (mid !== null && l.status === 'done' ? pplAt(l, mid) : null));
  const bestMid =
    mid !== null
      ? bestAtEqualTokens(
          mids,
          mids.map((m) => (m === null ? null : mid)),
        )
      : null;
  const unequal = totals.size > 1;
  return (
    <div className="race-view" data-testid="race-view">
      <ChartFrame
        title="Held-out perplexity against training tokens"
        hint="One line per lane (DHA's variants dashed apart); dashed black: the original model. Hover a point for its value."
        target={chart}
        name={name}
        view="race chart"
        exportTestId="race-export"
        testId="race-chart"
        extra={
          <button
            type="button"
            className="secondary"
            onClick={() => downloadBlob(`${name}.csv`, new Blob([raceCsv(race)], { type: 'text/csv' }))}
            data-testid="race-export-csv"
            title="Every measured point as CSV"
          >
            CSV
          </button>
        }
      >
        {(logY) => (
          <LineChart
            ref={chart}
            testId="race-chart"
            series={series}
            xMax={xMax}
            logY={logY}
            xLabel="total training tokens (DHA's own steps included)"
            yLabel="held-out perplexity"
            width={680}
            caption={[
              `Recovery race at ${budgetLabel(race.budget)} of the K/V heads — ${race.model}`,
              `every lane ${n(train.steps)} steps × ${n(tokensPerStep)} tokens in all, lr ${train.lr}, trains ${train.params}; held-out: ${race.evalText?.replace(/ \(documents.*\)$/, '') ?? '…'}`,
            ]}
          />
        )}
      </ChartFrame>
      <p className="hint" data-testid="race-seeds-note">
        {seeds > 1
          ? `Each lane trained with ${seeds} seeds: the lines are their means, the bands and the ranges in the table run from the lowest to the highest. ${undecided ? 'The best lanes’ ranges overlap: no measurable difference between them, so none is marked best.' : ''}`
          : 'Each lane trained with one seed: the spread of seeds is not known, so a small gap between lanes may be chance (more seeds in the race’s settings).'}
      </p>
      {unequal && (
        <p className="hint" data-testid="race-unequal">
          These lanes trained on different totals of tokens (a race saved before every lane shared one budget), so their final perplexities do not compare: no
          lane is marked best.
        </p>
      )}
      {kv && (
        <p className="hint" data-testid="race-kv-note">
          Also through a {kv.label}: the original {kv.pplBefore !== null ? kv.pplBefore.toFixed(3) : '…'} at {n(Math.round(kv.bytesBefore))} B/token (16-bit
          terms; the plain 16-bit cache: {n(race.kvOriginal / 2)}). Quantisation trains nothing: each lane’s trained model is evaluated through the same cache.
        </p>
      )}
      <table className="results race-table" data-testid="race-results">
        <thead>
          <tr>
            <th scope="col">lane</th>
            <th scope="col">status</th>
            <th scope="col" title={KV_SHAPE_HEADER.title}>
              {KV_SHAPE_HEADER.text}
            </th>
            <th scope="col" title="KV-cache bytes per token, original → converted, counted in float32 (the dtype the lab runs in)">
              KV bytes/token
            </th>
            <th scope="col" title="Held-out perplexity of the original, then of the converted model at its first point on the chart (DHA: after its own steps)">
              perplexity: original → converted
            </th>
            {mid !== null && (
              <th scope="col" title="Held-out perplexity at this common token count, measured in every lane" data-testid="race-mid-tokens" data-tokens={mid}>
                at {n(mid)} tokens
              </th>
            )}
            <th scope="col" title="Held-out perplexity after all of the lane's training tokens (the next column)">
              after training
            </th>
            {kv && (
              <th
                scope="col"
                title={`The trained model evaluated again through a ${kv.label}; bytes per token in 16-bit terms at the longest held-out document`}
                data-testid="race-kv-header"
              >
                through the {kv.label.split(' (')[0]} cache
              </th>
            )}
            <th scope="col" title="Total training tokens: DHA's own layer-local steps and the end-to-end steps">
              training tokens
            </th>
            <th scope="col" title="Compute time: conversion and training, without evaluation or pauses">
              time (s)
            </th>
          </tr>
        </thead>
        <tbody>
          {race.lanes.map((l, i) => (
            <tr
              key={l.key}
              data-testid="race-row"
              data-lane={l.key}
              data-method={l.method}
              data-status={l.status}
              data-converted={l.pplConverted ?? undefined}
              data-after={l.pplAfter ?? undefined}
              data-mid={mids[i] ?? undefined}
              data-tokens={tokens[i] ?? undefined}
            >
              <td title={LANE_BY_KEY.get(l.key)?.changes}>
                <LaneSwatch lane={l} /> {l.label}
              </td>
              <td title={l.error ?? undefined}>{l.status === 'failed' ? `failed: ${l.error}` : STATUS[l.status]}</td>
              <td className="fusion-counts" title={l.perLayer ? shapeLines(l.perLayer, l.latent).join('\n') : undefined}>
                {l.perLayer ? compactShape(l.perLayer, l.latent) : '—'}
              </td>
              <td>{l.kvBytesPerToken !== null ? `${n(race.kvOriginal)} → ${n(l.kvBytesPerToken)}` : '—'}</td>
              <td>
                {race.pplOriginal !== null ? race.pplOriginal.toFixed(3) : '…'} → {l.pplConverted !== null ? l.pplConverted.toFixed(3) : '…'}
              </td>
              {mid !== null && (
                <td>{mids[i] === null ? '—' : bestMid === i ? <strong data-testid="race-best-mid">{mids[i]!.toFixed(3)}</strong> : mids[i]!.toFixed(3)}</td>
              )}
              <td data-min={l.after?.min} data-max={l.after?.max}>
                {l.pplAfter === null ? '…' : bestFinal === i ? <strong data-testid="race-best">{l.pplAfter.toFixed(3)}</strong> : l.pplAfter.toFixed(3)}
                {l.after && l.after.n > 1 ? ` [${l.after.min.toFixed(3)}, ${l.after.max.toFixed(3)}]` : ''}
              </td>
              {kv && (
                <td data-testid="race-kv" data-after={l.kv?.after.mean}>
                  {l.kv
                    ? `${l.kv.after.mean.toFixed(3)}${l.kv.after.n > 1 ? ` [${l.kv.after.min.toFixed(3)}, ${l.kv.after.max.toFixed(3)}]` : ''} at ${n(Math.round(l.kv.bytesPerToken))} B/token`
                    : '—'}
                </td>
              )}
              <td title={l.status === 'done' ? undefined : 'planned'}>{tokens[i] !== null ? n(tokens[i]!) : '—'}</td>
              <td>{l.seconds !== null ? l.seconds.toFixed(1) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
