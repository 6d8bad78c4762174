// The recovery race: one KV budget, several lanes (src/lab/variants.ts: the four methods, and DHA with one part switched
// or its token budget split differently), each converted and then trained end to end toward the original on the same
// batches (same seed) with held-out perplexity measured as they train — the DHA paper's comparison (how fast a converted
// model recovers) on the loaded model. Every lane gets the same total training tokens: DHA's own layer-local steps come out
// of the shared budget (src/fusion/fuse.ts), and perplexity is read at the same totals. Lanes run one after another; each
// finished one also becomes a row of the fusion results table. Pause, single step and cancel act on the lane being trained.
import { isCancelled } from '../progress';
import { kvQuantLabel } from '../model/kvQuant';
import { create } from 'zustand';
import type { FusionMethod } from '../fusion/fuse';
import type { TrainPoint } from '../train/trainer';
import { compute } from './compute/client';
import { jobControl } from './jobControl';
import type { ModelHandle } from './compute/protocol';
import type { LatentSizes } from './fusionRun';
import { useFusion, type RunTexts } from './fusionStore';
import { LANE_BY_KEY, laneConfig, type LaneKey, type RaceSettings } from './variants';
import { laneTokens, raceBudgetProblem, seedCurve, seedSpread, type SeedSpread } from './raceLanes';

export type LaneStatus = 'waiting' | 'converting' | 'training' | 'done' | 'failed';

export interface RaceLane {
  /** Which lane (races saved before lanes existed get their method, see restoredRace). */
  key: LaneKey;
  /** Its name in the legend and the table. */
  label: string;
  method: FusionMethod;
  status: LaneStatus;
  /** Held-out perplexity (where measured) against training tokens; tokens count from the conversion's own (DHA's stages). */
  curve: TrainPoint[];
  pplConverted: number | null;
  pplAfter: number | null;
  kvBytesPerToken: number | null;
  perLayer: { k: number; v: number }[] | null;
  /** Latent KV (MLA): per layer the latent's width and kept rotary pairs (absent in races saved before it). */
  latent?: LatentSizes | null;
  seconds: number | null;
  /** Its row in the fusion results table. */
  rowId: number | null;
  /** Total training tokens when finished: the conversion's own (DHA's steps) and the end-to-end training's. */
  tokens: number | null;
  error: string | null;
  /** One entry per finished seed (absent in races saved before seeds); curve, pplConverted and pplAfter are their means. */
  runs?: LaneRun[];
  /** Over the seeds: the lowest and highest held-out perplexity at each common token count, and after training. */
  band?: { tokens: number; lo: number; hi: number }[];
  after?: SeedSpread | null;
  /** Through the quantised KV cache the race evaluated with (absent or null: none): its perplexity over the seeds and bytes. */
  kv?: { label: string; after: SeedSpread; bytesPerToken: number; bytesBefore: number; pplBefore: number | null } | null;
}

/** One seed of a lane. */
export interface LaneRun {
  seed: number;
  curve: TrainPoint[];
  pplConverted: number | null;
  pplAfter: number;
  rowId: number;
  /** Through the race's quantised KV cache (absent: none). */
  pplKv?: number | null;
}

export interface Race {
  runId: number;
  model: string;
  budget: number;
  settings: RaceSettings;
  /** The original model's held-out perplexity (the reference line). */
  pplOriginal: number | null;
  kvOriginal: number;
  evalText: string | null;
  lanes: RaceLane[];
  /** Index of the lane running now. */
  current: number;
}

interface RaceState {
  running: boolean;
  paused: boolean;
  waiting: boolean;
  stage: string | null;
  race: Race | null;
  error: string | null;
  /** Runs each lane on the race's shared settings (its LaneSpec.recipe gives the lane's own). */
  start: (loaded: ModelHandle, settings: RaceSettings, lanes: LaneKey[], texts: RunTexts) => Promise<void>;
  pause: () => void;
  resume: () => void;
  step: () => void;
  cancel: () => void;
  reset: () => void;
}

let currentRun = 0;

export const useRace = create<RaceState>((set, get) => {
  const control = jobControl(get, (paused) => set({ paused }));
  const patchLane = (runId: number, i: number, f: (l: RaceLane) => Partial<RaceLane>) =>
    set((s) => (s.race?.runId === runId ? { race: { ...s.race, lanes: s.race.lanes.map((l, j) => (j === i ? { ...l, ...f(l) } : l)) } } : {}));
  return {
    running: false,
    paused: false,
    waiting: false,
    stage: null,
    race: null,
    error: null,

    start: async (loaded, settings, keys, texts) => {
      if (get().running) return;
      if (!keys.length) {
        set({ error: 'Choose at least one lane for the race.' });
        return;
      }
      if (!settings.train || settings.train.steps < 1) {
        set({ error: 'The race trains each converted model: give at least one training step.' });
        return;
      }
      const problem = raceBudgetProblem(settings, keys);
      if (problem) {
        set({ error: problem });
        return;
      }
      const runId = ++currentRun;
      control.begin();
      const kvOriginal = loaded.card.kvBytesPerToken;
      const specs = keys.map((k) => LANE_BY_KEY.get(k)!);
      const lanes = specs.map((l): RaceLane => ({
        key: l.key,
        label: l.label,
        method: l.method,
        status: 'waiting',
        curve: [],
        pplConverted: null,
        pplAfter: null,
        kvBytesPerToken: null,
        perLayer: null,
        seconds: null,
        rowId: null,
        tokens: null,
        error: null,
      }));
      set({
        running: true,
        paused: false,
        waiting: false,
        error: null,
        stage: 'preparing the texts',
        race: { runId, model: loaded.name, budget: settings.budget, settings, pplOriginal: null, kvOriginal, evalText: null, lanes, current: 0 },
      });
      const mineNow = () => runId === currentRun;
      const K = Math.max(1, settings.seeds ?? 1);
      let stopped = false;
      for (const [i, spec] of specs.entries()) {
        if (!mineNow() || control.cancelled || stopped) break;
        set((s) => (s.race?.runId === runId ? { race: { ...s.race, current: i } } : {}));
        patchLane(runId, i, () => ({ status: 'converting', runs: [] }));
        for (let k = 0; k < K; k++) {
          if (!mineNow() || control.cancelled) break;
          const seed = settings.seed + k;
          const config = { ...laneConfig(spec.key, settings), seed };
          const who = `${specs.length > 1 ? `${i + 1}/${specs.length} ` : ''}${spec.label}${K > 1 ? `, seed ${k + 1}/${K}` : ''}`;
          const running = compute.run('fuse', { modelId: loaded.id, config, texts }, (e) => {
            if (!mineNow()) return;
            if (e.stage) set({ stage: `${who}: ${e.stage}` });
            if (e.waiting !== undefined) set({ waiting: e.waiting });
            if (e.before) {
              const before = e.before;
              set((s) => (s.race?.runId === runId ? { race: { ...s.race, pplOriginal: before.ppl, evalText: before.evalName } } : {}));
            }
            // The first seed's curve grows live; later seeds join the mean when they finish.
            if (e.train && k === 0) {
              const t = e.train;
              patchLane(runId, i, (l) => ({
                status: 'training',
                curve: [...l.curve, { step: t.step, tokens: t.tokens, loss: t.loss, ppl: t.ppl }],
                pplConverted: t.step === 0 ? t.ppl : l.pplConverted,
              }));
            } else if (e.train) patchLane(runId, i, () => ({ status: 'training' }));
          });
          control.attach(running.id);
          try {
            const row = await running.result;
            if (!mineNow()) return;
            useFusion.getState().addResult(row);
            patchLane(runId, i, (l) => {
              const runs = [
                ...(l.runs ?? []),
                { seed, curve: row.curve, pplConverted: row.pplConverted, pplAfter: row.pplAfter, rowId: row.id, pplKv: row.kvCache?.pplAfter ?? null },
              ];
              const kvValues = runs.flatMap((r) => (r.pplKv == null ? [] : [r.pplKv]));
              const kv =
                row.kvCache && kvValues.length
                  ? {
                      label: kvQuantLabel(row.kvCache.quant),
                      after: seedSpread(kvValues)!,
                      bytesPerToken: row.kvCache.bytesPerToken,
                      bytesBefore: row.kvCache.bytesPerTokenBefore,
                      pplBefore: row.kvCache.pplBefore,
                    }
                  : null;
              const mean = seedCurve(runs);
              const stepAt = new Map(runs[0].curve.map((p) => [p.tokens, p.step]));
              const converted = seedSpread(runs.flatMap((r) => (r.pplConverted === null ? [] : [r.pplConverted])));
              return {
                status: k === K - 1 ? 'done' : 'training',
                runs,
                curve: mean.map((p) => ({ step: stepAt.get(p.tokens) ?? 0, tokens: p.tokens, loss: null, ppl: p.ppl })),
                band: mean.map((p) => ({ tokens: p.tokens, lo: p.lo, hi: p.hi })),
                after: seedSpread(runs.map((r) => r.pplAfter)),
                pplAfter: seedSpread(runs.map((r) => r.pplAfter))!.mean,
                pplConverted: converted?.mean ?? null,
                kvBytesPerToken: row.kvBytesPerToken,
                kv,
                perLayer: row.perLayer,
                latent: row.latent,
                seconds: (l.seconds ?? 0) + row.seconds,
                rowId: row.id,
                tokens: row.trainTokens,
              };
            });
          } catch (e) {
            if (!mineNow()) return;
            const stop = isCancelled(e);
            patchLane(runId, i, () => ({ status: 'failed', error: stop ? 'Cancelled.' : e instanceof Error ? e.message : String(e) }));
            stopped = stop;
            break;
          } finally {
            control.detach(running.id);
          }
        }
      }
      if (!mineNow()) return;
      set({ running: false, paused: false, waiting: false, stage: null, error: control.cancelled ? 'Cancelled.' : null });
    },

    pause: control.pause,
    resume: control.resume,
    step: control.step,
    cancel: control.cancel,
    reset: () => {
      currentRun++;
      control.drop();
      set({ running: false, paused: false, waiting: false, stage: null, race: null, error: null });
    },
  };
});

/**
 * A race as saved in this browser, made current: races saved before lanes existed have lanes without a key or label (their
 * method stands for both: the three methods are lanes too) and without their total tokens (the curve's last point).
 */
export function restoredRace(race: Race): Race {
  return {
    ...race,
    lanes: race.lanes.map((l) => {
      const key = (l.key ?? l.method) as LaneKey;
      return {
        ...l,
        key,
        label: l.label ?? LANE_BY_KEY.get(key)?.label ?? l.method,
        tokens: l.tokens ?? (l.status === 'done' ? laneTokens({ curve: l.curve }) : null),
      };
    }),
  };
}

/**
 * The race's curves as CSV: one line per measured point of every seed; step counts the lane's end-to-end steps, tokens every
 * step. Races saved before seeds give their one curve under the race's seed.
 */
export function raceCsv(race: Race): string {
  const lines = ['lane,method,seed,step,training_tokens,loss,heldout_ppl'];
  for (const l of race.lanes) {
    const runs = l.runs?.length ? l.runs : [{ seed: race.settings.seed, curve: l.curve }];
    for (const r of runs) for (const p of r.curve) lines.push([l.key ?? l.method, l.method, r.seed, p.step, p.tokens, p.loss ?? '', p.ppl ?? ''].join(','));
  }
  if (race.pplOriginal !== null) lines.push(['original', 'original', '', 0, 0, '', race.pplOriginal].join(','));
  return `${lines.join('\n')}\n`;
}
