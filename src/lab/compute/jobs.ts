// The compute core's jobs (src/lab/compute/protocol.ts), one handler each: the same core functions the command line calls,
// reporting through events.
import { loadModelFiles, toFileMap, type LoadedModel } from '../../model/load';
import { modelKvCacheSize } from '../../model/kvQuant';
import { modelCard } from '../../model/card';
import { layoutsOf } from '../../model/heads';
import { clearModelCache, fetchModel } from '../../model/remote';
import { throwIfAborted } from '../../progress';
import { GpuModel } from '../../eval/gpuModel';
import { perplexity, splitDocuments, tokenizeDocuments } from '../../eval/perplexity';
import { generate } from '../../eval/generate';
import { calibrate, calibrationSequences, calibrationTokens } from '../../analysis/calibration';
import { headSimilarity } from '../../analysis/similarity';
import { layerMergeLoss } from '../../analysis/redundancy';
import { kvSpectrum, mlaSizes } from '../../fusion/mla';
import { runSelfTest } from '../../gpu/selftest';
import { matmul } from '../../gpu/kernels/matmul';
import { exportFusedModel, modelHash } from '../../fusion/export';
import { fuseAndEvaluate, resultRow } from '../fusionRun';
import type { CoreState, HeldModel, JobTable } from './core';
import type { GpuRuntime } from '../../gpu/runtime';
import type { Model } from '../../model/types';
import { ForwardPass } from '../../eval/forward';
import { attentionProbabilities } from '../../eval/attention';
import type { LayerSpectrum, ModelHandle, TextSource } from './protocol';

const TOKENIZER_FILE = /^(tokenizer\.json|tokenizer_config\.json|tokenizer\.bin|tok\d+\.bin)$/;

async function textOf(t: TextSource): Promise<string> {
  return 'text' in t ? t.text : t.file.text();
}

function handle(m: HeldModel, limits: { maxStorageBufferBindingSize: number; maxBufferSize: number }): ModelHandle {
  const l = m.loaded;
  // throws ModelTooLargeError with the numbers when the model cannot fit this adapter
  return {
    id: m.id,
    name: l.name,
    hash: modelHash(l.model),
    card: modelCard(l.model, l.tokenizer?.kind ?? null, limits),
    notes: l.notes,
    hasTokenizer: Boolean(l.tokenizer),
    layouts: layoutsOf(l.model),
  };
}

const tokenizerOf = (l: LoadedModel) => {
  if (!l.tokenizer) throw new Error(`${l.name} has no tokenizer, so it cannot read text.`);
  return l.tokenizer;
};

/** A job's model: a loaded one (its weights stay on the GPU), or a fused result (uploaded for this job: `owned`). */
async function modelOf(
  host: CoreState,
  rt: GpuRuntime,
  source: { modelId: number } | { resultId: number },
): Promise<{ loaded: LoadedModel; model: Model; gm: GpuModel; owned: boolean }> {
  if ('modelId' in source) {
    const m = host.model(source.modelId);
    return { loaded: m.loaded, model: m.loaded.model, gm: await m.gpuModel(), owned: false };
  }
  const r = host.result(source.resultId);
  return { loaded: r.source.loaded, model: r.fused, gm: await GpuModel.upload(rt, r.fused), owned: true };
}

export const JOBS: JobTable = {
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
    const held = host.hold(
      loaded,
      [...files].filter(([name]) => TOKENIZER_FILE.test(name)),
    );
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
      grams = await calibrate(await m.gpuModel(), calibrationSequences(tokens, model.config.contextLength), {
        signal,
        onProgress: (p) => emit({ stage: `calibration: ${p.detail}` }),
      });
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

  // Weights only, on the CPU: one layer at a time, yielding between layers so that a cancel can arrive.
  spectrum: async ({ modelId, budget }, { host, signal, emit }) => {
    const { model } = host.model(modelId).loaded;
    for (let l = 0; l < model.config.layers; l++) {
      throwIfAborted(signal);
      const singular = kvSpectrum(model, l);
      let latent: LayerSpectrum['latent'];
      try {
        const s = mlaSizes(model, l, budget);
        latent = { rank: s.rank, ropePairs: s.ropePairs, kHeads: model.layers[l].kv.kHeads };
      } catch (e) {
        latent = { problem: e instanceof Error ? e.message : String(e) };
      }
      emit({ layer: { layer: l, singular, latent } });
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return { result: null };
  },

  perplexity: async ({ modelId, text, split, minChars, maxDocs, kvQuant }, { host, signal, emit }) => {
    const m = host.model(modelId);
    const docs = tokenizeDocuments(
      splitDocuments(await textOf(text), { split, minChars, maxDocs: maxDocs || undefined }),
      tokenizerOf(m.loaded),
      m.loaded.model.config.contextLength,
    );
    if (!docs.length) throw new Error(`No documents in ${text.name} with these settings (split, minimum length).`);
    const r = await perplexity(await m.gpuModel(), docs, { signal, kvQuant, onProgress: (progress) => emit({ progress }) });
    const context = Math.max(...docs.map((d) => d.length));
    const model = m.loaded.model;
    return { result: { ...r, text: text.name, kvQuant, cache: modelKvCacheSize(model, kvQuant, context), cache16: modelKvCacheSize(model, null, context) } };
  },

  generate: async ({ source, prompt, opts }, { host, signal, emit }) => {
    const rt = await host.rt();
    const { loaded, gm, owned } = await modelOf(host, rt, source);
    try {
      let text = '';
      for await (const t of generate(gm, tokenizerOf(loaded), prompt, { ...opts, signal })) {
        text += t.text;
        emit({ text, cachedTokens: t.cachedTokens, kvCacheBytes: t.kvCacheBytes, quantisedTokens: t.quantisedTokens });
      }
    } finally {
      if (owned) gm.release();
    }
    return { result: null };
  },

  fuse: async ({ modelId, config, texts }, { host, signal, gate, emit }) => {
    const rt = await host.rt();
    const m = host.model(modelId);
    const outcome = await fuseAndEvaluate(
      rt,
      m,
      config,
      {
        calibration: { text: await textOf(texts.calibration), name: texts.calibration.name },
        evaluation: {
          text: await textOf(texts.evaluation),
          name: texts.evaluation.name,
          heldOutDocs: texts.evaluation.heldOutDocs,
          kvQuant: texts.evaluation.kvQuant,
        },
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
    host.results.set(id, { id, source: m, fused: outcome.result.model, tokenizerFiles: outcome.tokenizerFiles, experiment: outcome.record, files: null });
    return { result: resultRow(id, m, outcome) };
  },

  attention: async ({ source, prompt, layer, head }, { host }) => {
    const rt = await host.rt();
    const { loaded, model, gm, owned } = await modelOf(host, rt, source);
    try {
      const c = model.config;
      if (layer < 0 || layer >= c.layers || head < 0 || head >= c.heads)
        throw new RangeError(`${loaded.name} has ${c.layers} layers of ${c.heads} query heads; there is no layer ${layer}, head ${head}`);
      const tok = tokenizerOf(loaded);
      const ids = tok.encode(prompt, { bos: true }).slice(0, Math.min(c.contextLength, 96));
      if (ids.length < 2) throw new Error('the prompt needs at least one token after BOS');
      const T = ids.length;
      const fp = await ForwardPass.create(gm, { batch: 1, chunk: T, cacheT: T, keep: true });
      try {
        await fp.run(Uint32Array.from(ids), T, 0, undefined, { skipLogits: true });
        const l = model.layers[layer].kv;
        const dh = c.headDim;
        const kh = l.kHeadOf[head];
        // The same forward's queries and keys through the attention block's probabilities kernel: P [1, heads, T, T].
        const P = await rt.tensor('attention map P', c.heads * T * T);
        let block: Float32Array;
        try {
          const shape = { B: 1, T, heads: c.heads, kHeads: l.kHeads, vHeads: l.vHeads, dh, window: c.attentionWindow[layer] ?? 0, scale: c.attentionScale };
          await attentionProbabilities(rt, { q: fp.acts[layer].q, k: fp.kCache[layer], maps: gm.layers[layer].maps }, P, shape);
          block = (await rt.read(P)).slice(head * T * T, (head + 1) * T * T);
        } finally {
          rt.release(P);
        }
        const probs = Array.from({ length: T }, (_, t) => Array.from(block.subarray(t * T, t * T + t + 1)));
        // Each token as the text it stands for (a byte-level token as its character), BOS as ⟨bos⟩.
        const shown = (id: number) => {
          if (id === tok.bosId) return '⟨bos⟩';
          const text = tok.decode([id]);
          return text && !text.includes('\ufffd') ? text : tok.piece(id);
        };
        return { result: { tokens: ids.map(shown), probs, kHead: kh, vHead: l.vHeadOf[head] } };
      } finally {
        fp.release();
      }
    } finally {
      if (owned) gm.release();
    }
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
