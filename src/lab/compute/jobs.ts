// The compute core's jobs (src/lab/compute/protocol.ts), one handler each: the same core functions the command line calls,
// reporting through events.
import { loadModelFiles, toFileMap, type LoadedModel } from '../../model/load';
import { modelCard } from '../../model/card';
import { clearModelCache, fetchModel } from '../../model/remote';
import { throwIfAborted } from '../../model/errors';
import { GpuModel } from '../../eval/gpuModel';
import { perplexity, splitDocuments, tokenizeDocuments } from '../../eval/perplexity';
import { generate } from '../../eval/generate';
import { calibrate, calibrationSequences, calibrationTokens } from '../../analysis/calibration';
import { headSimilarity } from '../../analysis/similarity';
import { layerMergeLoss } from '../../analysis/redundancy';
import { runSelfTest } from '../../gpu/selftest';
import { matmul } from '../../gpu/kernels/matmul';
import { exportFusedModel, modelHash } from '../../fusion/export';
import { fuseAndEvaluate, resultRow } from '../fusionRun';
import type { HeldModel, JobContext } from './host';
import type { Jobs, JobType, ModelHandle, Request, TextSource } from './protocol';

type Handler<T extends JobType> = (args: Extract<Request, { type: T }>, ctx: JobContext<T>) => Promise<{ result: Jobs[T]['result']; transfer?: Transferable[] }>;

const TOKENIZER_FILE = /^(tokenizer\.json|tokenizer_config\.json|tokenizer\.bin|tok\d+\.bin)$/;

async function textOf(t: TextSource): Promise<string> {
  return 'text' in t ? t.text : t.file.text();
}

function handle(m: HeldModel, limits: { maxStorageBufferBindingSize: number; maxBufferSize: number }): ModelHandle {
  const l = m.loaded;
  // throws ModelTooLargeError with the numbers when the model cannot fit this adapter
  return { id: m.id, name: l.name, hash: modelHash(l.model), card: modelCard(l.model, l.tokenizer?.kind ?? null, limits), notes: l.notes, hasTokenizer: Boolean(l.tokenizer) };
}

const tokenizerOf = (l: LoadedModel) => {
  if (!l.tokenizer) throw new Error(`${l.name} has no tokenizer, so it cannot read text.`);
  return l.tokenizer;
};

export const JOBS: { [T in JobType]: Handler<T> } = {
  init: async (_a, { host }) => ({ result: (await host.rt()).summary }),

  load: async ({ source }, { host, signal, emit }) => {
    const rt = await host.rt();
    const onProgress = (progress: Parameters<NonNullable<Parameters<typeof loadModelFiles>[1]>['onProgress'] & {}>[0]) => emit({ progress });
    let loaded: LoadedModel;
    let files: Iterable<[string, Blob]>;
    if (source.kind === 'files') {
      const map = toFileMap(source.files);
      loaded = await loadModelFiles(map, { name: source.label, signal, onProgress });
      files = map;
    } else {
      const demo = source.kind === 'demo';
      const r = await fetchModel(demo ? source.url : source.spec, { signal, onProgress, onFile: (download) => emit({ download }), cache: !demo }, source.base);
      const l = await loadModelFiles(r.files, { name: demo ? 'demo-mha-bytes (built-in demo)' : r.name, primary: r.primary, signal, onProgress });
      loaded = { ...l, notes: [...r.notes, ...l.notes] };
      files = r.files;
    }
    const held = host.hold(loaded, [...files].filter(([name]) => TOKENIZER_FILE.test(name)));
    try {
      return { result: handle(held, rt.limits) };
    } catch (e) {
      host.models.delete(held.id);
      throw e;
    }
  },

  release: async ({ modelId, resultId }, { host }) => {
    if (modelId !== undefined) {
      const m = host.models.get(modelId);
      host.models.delete(modelId);
      if (m?.gpu) (await m.gpu).release();
    }
    if (resultId !== undefined) host.results.delete(resultId);
    return { result: null };
  },

  similarity: async ({ modelId, metric, text, maxTokens }, { host, signal, emit }) => {
    const rt = await host.rt();
    const m = host.model(modelId);
    const { model } = m.loaded;
    let grams;
    if (metric !== 'weight-cosine') {
      const tokens = calibrationTokens(tokenizerOf(m.loaded), text, maxTokens);
      grams = await calibrate(await m.gpuModel(), calibrationSequences(tokens, model.config.contextLength), { signal, onProgress: (p) => emit({ stage: `calibration: ${p.detail}` }) });
      emit({ tokens: grams[0]?.n ?? 0 });
    }
    for (let l = 0; l < model.config.layers; l++) {
      throwIfAborted(signal);
      emit({ stage: `layer ${l + 1} of ${model.config.layers}` });
      const k = await headSimilarity(model, l, 'k', metric, grams?.[l], rt);
      const v = await headSimilarity(model, l, 'v', metric, grams?.[l], rt);
      const q = await headSimilarity(model, l, 'q', metric, grams?.[l], rt);
      const g = grams?.[l];
      const redundancy = g ? { k: await layerMergeLoss(model, l, 'k', g, rt), v: await layerMergeLoss(model, l, 'v', g, rt) } : null;
      throwIfAborted(signal);
      emit({ layer: { layer: l, q, k, v, redundancy } });
    }
    return { result: { tokens: grams?.[0]?.n ?? 0 } };
  },

  perplexity: async ({ modelId, text, split, minChars, maxDocs }, { host, signal, emit }) => {
    const m = host.model(modelId);
    const docs = tokenizeDocuments(splitDocuments(await textOf(text), { split, minChars, maxDocs: maxDocs || undefined }), tokenizerOf(m.loaded), m.loaded.model.config.contextLength);
    if (!docs.length) throw new Error(`No documents in ${text.name} with these settings (split, minimum length).`);
    const r = await perplexity(await m.gpuModel(), docs, { signal, onProgress: (progress) => emit({ progress }) });
    return { result: { ...r, text: text.name } };
  },

  generate: async ({ source, prompt, opts }, { host, signal, emit }) => {
    const rt = await host.rt();
    let gm: GpuModel;
    let owned = false;
    let loaded: LoadedModel;
    if ('modelId' in source) {
      const m = host.model(source.modelId);
      loaded = m.loaded;
      gm = await m.gpuModel();
    } else {
      const r = host.result(source.resultId);
      loaded = r.source.loaded;
      gm = await GpuModel.upload(rt, r.fused);
      owned = true;
    }
    try {
      let text = '';
      for await (const t of generate(gm, tokenizerOf(loaded), prompt, { ...opts, signal })) {
        text += t.text;
        emit({ text, cachedTokens: t.cachedTokens, kvCacheBytes: t.kvCacheBytes });
      }
    } finally {
      if (owned) gm.release();
    }
    return { result: null };
  },

  fuse: async ({ modelId, settings, texts }, { host, signal, gate, emit }) => {
    const rt = await host.rt();
    const m = host.model(modelId);
    const outcome = await fuseAndEvaluate(
      rt,
      m,
      settings,
      {
        calibration: { text: await textOf(texts.calibration), name: texts.calibration.name },
        evaluation: { text: await textOf(texts.evaluation), name: texts.evaluation.name, heldOutDocs: texts.evaluation.heldOutDocs },
        sameText: texts.sameText,
      },
      {
        signal,
        gate: () => gate.wait(signal),
        onStage: (stage) => emit({ stage }),
        onDhaEvent: (dha) => emit({ dha }),
        onTrainEvent: (train) => emit({ train }),
        onBefore: (before, evalName) => emit({ before: { ppl: before.ppl, evalName } }),
      },
    );
    const id = host.newId();
    host.results.set(id, { id, source: m, fused: outcome.result.model, tokenizerFiles: outcome.tokenizerFiles, experiment: outcome.experiment, files: null });
    return { result: resultRow(id, m, settings, outcome) };
  },

  file: async ({ resultId, name }, { host }) => {
    const r = host.result(resultId);
    r.files ??= exportFusedModel(r.fused, { tokenizerFiles: r.tokenizerFiles, experiment: r.experiment });
    const f = r.files.find((x) => x.name === name);
    if (!f) throw new Error(`result ${resultId} has no file ${name}`);
    const copy = f.data.slice().buffer;
    return { result: copy, transfer: [copy] };
  },

  selftest: async (_a, { host, signal, emit }) => {
    const rt = await host.rt();
    for await (const r of runSelfTest(rt)) {
      emit(r);
      if (signal.aborted) break;
    }
    return { result: { host: rt.host } };
  },

  matmul: async ({ a, b, shape, variant }, { host }) => {
    const rt = await host.rt();
    const batch = shape.batch ?? 1;
    const A = await rt.tensor('page A', new Float32Array(a));
    const B = await rt.tensor('page B', new Float32Array(b));
    const C = await rt.tensor('page C', batch * shape.M * shape.N);
    try {
      rt.fill(C, NaN);
      await matmul(rt, A, B, C, shape, variant);
      return { result: Array.from(await rt.read(C)) };
    } finally {
      [A, B, C].forEach((t) => rt.release(t));
    }
  },

  clearCache: async () => ({ result: await clearModelCache() }),
};
