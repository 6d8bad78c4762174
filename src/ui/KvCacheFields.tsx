// The KV cache the Evaluate panel measures and generates through: full precision (16 bits: the plain cache) or quantised
// (src/model/kvQuant.ts) — bits per value, the group that shares one minimum and scale, the recent positions kept exact,
// how keys are grouped, keys before or after rotary, and the first token exact.
import { useSettings } from '../lab/settingsStore';
import { Field } from './Field';
import { kvQuantLabel, type KvQuant } from '../model/kvQuant';
import { kvQuantOf } from '../lab/kvSettings';

/** The cache the settings ask for; null: the plain cache. */
export function useKvQuant(): KvQuant | null {
  return kvQuantOf(useSettings((s) => s.values));
}

export function KvCacheFields() {
  const q = useKvQuant();
  return (
    <fieldset className="kv-cache" data-testid="kv-cache-fields">
      <legend title="Fewer bits per cached value: the third way to a smaller KV cache, beside fewer heads and a latent">KV cache</legend>
      <div className="form-row">
        <Field
          k="eval.kvBits"
          testId="kv-bits"
          label="bits"
          options={{ '16': '16 (full precision)', '8': '8', '4': '4', '3': '3', '2': '2' }}
          title="Bits per cached key and value. Each group of values stores its codes plus a 16-bit minimum and scale (asymmetric uniform quantisation, as KIVI)"
        />
        {q && (
          <>
            <Field k="eval.kvGroup" testId="kv-group" label="group" title="Values that share one minimum and one scale (KIVI: 32)" />
            <Field
              k="eval.kvResidual"
              testId="kv-residual"
              label="recent exact"
              title="The most recent positions stay in full precision; older ones are quantised a whole group at a time"
            />
            <Field
              k="eval.keyAxis"
              testId="kv-key-axis"
              label="keys grouped per"
              options={{ channel: 'channel (along time)', token: 'token (along channels)' }}
              title="Key outliers live in fixed channels, so KIVI and KVQuant group keys per channel; values are always grouped per token"
            />
            <Field
              k="eval.keyRope"
              testId="kv-key-rope"
              label="keys quantised"
              options={{ post: 'after rotary', pre: 'before rotary' }}
              title="KVQuant quantises keys before the rotary step (rotating them after dequantising); KIVI and Hugging Face's cache after it"
            />
            <Field
              k="eval.keepSink"
              testId="kv-keep-sink"
              className="check"
              label="first token exact"
              title="Keep position 0 (the attention sink) in full precision"
            />
          </>
        )}
      </div>
      <p className="hint" data-testid="kv-cache-label">
        {kvQuantLabel(q)}
      </p>
    </fieldset>
  );
}
