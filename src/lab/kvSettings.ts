// The quantised KV cache the page's settings ask for: the Evaluate panel's KV cache row (eval.kv*), read by every panel that
// evaluates — perplexity and generation, the Fuse panel's and the race's results. DOM-free.
import { kvQuantFrom, type KvQuant } from '../model/kvQuant';
import type { Settings } from './settings';

/** The KV cache the settings ask for (the Evaluate panel's row, read by every panel that evaluates); null: the plain cache. */
export function kvQuantOf(values: Settings): KvQuant | null {
  const bits = Number(values['eval.kvBits']);
  if (bits === 16) return null;
  return kvQuantFrom({
    bits,
    group: values['eval.kvGroup'],
    residual: values['eval.kvResidual'],
    keyAxis: values['eval.keyAxis'],
    keyRope: values['eval.keyRope'],
    keepSink: values['eval.keepSink'],
  });
}
