// headlab example: the worked example the page shows when WebGPU is unavailable — head similarity, the race's lanes at one
// budget with DHA's search path, every converted model trained on the same total of tokens (the page's CPU-fallback race
// defaults; DHA's own steps count in that total), the head layouts — computed by the lab on the built-in demo and written
// as JSON (public/example/demo-example.json).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createNodeRuntime } from '../gpu/node';
import { GpuModel } from '../eval/gpuModel';
import { calibrate, calibrationSequences, calibrationTokens } from '../analysis/calibration';
import { headSimilarity } from '../analysis/similarity';
import { layerMergeLoss } from '../analysis/redundancy';
import { layoutsOf, kvBytesPerToken, originOf } from '../model/heads';
import { LANE_BY_KEY, laneConfig, type RaceSettings } from '../lab/variants';
import { fuseAndEvaluate, type SourceModel } from '../lab/fusionRun';
import { convertedPpl } from '../fusion/fuse';
import type { ExampleData, ExampleRun } from '../lab/example';
import { defaults } from '../lab/settings';
import { UsageError, type ParsedArgs } from './args';
import { loadFromArgs, str } from './model-commands';
import { adapterName } from './bench-command';
import { progressPrinter } from './progress';

export async function exampleCommand(args: ParsedArgs): Promise<number> {
  const out = str(args, 'out');
  const textPath = str(args, 'text');
  if (!out || !textPath) throw new UsageError('example needs --text F (the demo stories) and --out FILE.json');
  const loaded = await loadFromArgs(args, 'example');
  if (!loaded.tokenizer) throw new UsageError(`${loaded.name} has no tokenizer`);
  const text = await readFile(textPath, 'utf8');
  const rt = await createNodeRuntime();
  const d = defaults(true); // the page's CPU-fallback defaults: what a student without a GPU would run
  const budget = Number(d['race.budget']) / 100;
  const model = loaded.model;
  let gm: Promise<GpuModel> | null = null;
  const source: SourceModel = { loaded, tokenizerFiles: [], gpuModel: () => (gm ??= GpuModel.upload(rt, model)) };
  const progress = progressPrinter();
  // Head similarity (CKA) on the first N tokens of the stories, as the panel computes it.
  const tokens = calibrationTokens(loaded.tokenizer, text, d['sim.tokens']);
  const grams = await calibrate(await source.gpuModel(), calibrationSequences(tokens, model.config.contextLength), { onProgress: progress.onProgress });
  const layers = [];
  for (let l = 0; l < model.config.layers; l++) {
    layers.push({
      layer: l,
      q: await headSimilarity(model, l, 'q', 'cka', grams[l], rt),
      k: await headSimilarity(model, l, 'k', 'cka', grams[l], rt),
      v: await headSimilarity(model, l, 'v', 'cka', grams[l], rt),
      redundancy: { k: await layerMergeLoss(model, l, 'k', grams[l], rt), v: await layerMergeLoss(model, l, 'v', grams[l], rt) },
    });
  }
  // The race at its page defaults: every lane at the budget on the same total of training tokens (DHA's own steps come out
  // of it), the aligned merge renormalised.
  const train = {
    steps: d['race.train.steps'],
    lr: d['race.train.lr'],
    params: 'all' as const,
    loss: 'kl' as const,
    batch: d['race.train.batch'],
    seqLen: d['race.train.seq'],
    evalEvery: d['race.train.evalEvery'],
  };
  const budgetPath: ExampleData['budgetPath'] = [];
  const runs: ExampleRun[] = [];
  let pplOriginal = 0;
  let evalText = '';
  const lanes = d['race.methods'];
  const shared: RaceSettings = {
    budget,
    seed: 1,
    calibrationTokens: d['race.calTokens'],
    train,
    ownSteps: d['race.dhaSteps'],
    renormalise: true,
  };
  for (const key of lanes) {
    const lane = LANE_BY_KEY.get(key)!;
    const config = laneConfig(key, shared);
    const method = config.recipe.preset;
    const o = await fuseAndEvaluate(
      rt,
      source,
      config,
      {
        calibration: { text, name: 'the built-in TinyStories sample' },
        evaluation: { text, name: 'the built-in TinyStories sample', heldOutDocs: d['race.evalDocs'] },
        sameText: true,
      },
      {
        signal: new AbortController().signal,
        gate: async () => {},
        onStage: (s) => progress.onProgress({ stage: `${lane.label}: ${s}`, done: 0, total: 1 }),
        onDhaEvent: (e) => {
          if (e.phase === 'search' && key === 'dha')
            budgetPath.push({ budget: e.budget, perLayer: e.perLayer, layouts: e.layouts.map((l) => ({ ...l, origin: originOf(l) })) });
        },
      },
    );
    pplOriginal = o.before.ppl;
    evalText = o.evalName;
    const r = o.result;
    runs.push({
      method,
      lane: key,
      label: o.record.label,
      tokens: r.trainTokens,
      budget,
      perLayer: r.perLayer,
      ...(r.mla ? { latent: r.mla } : {}),
      layouts: layoutsOf(r.model),
      kvBytesPerToken: r.kvBytesPerToken,
      pplConverted: convertedPpl(r) ?? o.after.ppl,
      pplAfter: o.after.ppl,
      curve: r.curve.filter((p) => p.ppl !== null).map((p) => ({ tokens: p.tokens, ppl: p.ppl! })),
      seconds: r.seconds,
    });
  }
  progress.done();
  const data: ExampleData = {
    producer: 'headlab example',
    date: new Date().toISOString().slice(0, 10),
    adapter: adapterName(rt.summary),
    command: 'bash scripts/make-example.sh',
    model: {
      name: loaded.name,
      layers: model.config.layers,
      heads: model.config.heads,
      headDim: model.config.headDim,
      kvBytesPerToken: kvBytesPerToken(model),
      pplOriginal,
      layouts: layoutsOf(model),
    },
    evalText,
    similarity: { metric: 'cka', tokens: grams[0]?.n ?? 0, layers },
    budgetPath,
    training: { steps: train.steps, batch: train.batch, seqLen: train.seqLen, lr: train.lr, dhaSteps: shared.ownSteps },
    runs,
  };
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(data)}\n`);
  process.stdout.write(
    `wrote ${out}: ${runs.map((r) => `${r.label} ${r.pplConverted.toFixed(3)} → ${r.pplAfter.toFixed(3)} at ${r.tokens} tokens`).join(', ')} (original ${pplOriginal.toFixed(3)})\n`,
  );
  return 0;
}
