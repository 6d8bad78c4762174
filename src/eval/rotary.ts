// The rotary setup on the GPU: a model's cos/sin tables (src/model/rotary.ts computes them) as tensors, and the shape the
// rope kernel takes. The forward pass and end-to-end backward read their GpuModel's tables (uploaded with its weights);
// DHA's layer trainers, one teacher and one student per layer, share one upload per model through acquireRotary.
import type { GpuRuntime, GpuTensor } from '../gpu/runtime';
import type { RopeShape } from '../gpu/kernels/transformer';
import type { ModelConfig, RotaryStyle } from '../model/types';
import { modelRotaryTables, rotaryDims, rotaryStyle, rotaryTheta } from '../model/rotary';

/** What the rope kernel needs of a model: its tables on the GPU, the rotating dims per head and how they pair up. */
export interface RotarySetup {
  cos: GpuTensor;
  sin: GpuTensor;
  rotDims: number;
  style: RotaryStyle;
}

/** The rope kernel's shape for B sequences of T rows of `heads` heads: queries and plain chunks by default (pos0 = 0, y as x). */
export function ropeShape(
  r: Pick<RotarySetup, 'rotDims' | 'style'>,
  s: { B: number; T: number; heads: number; headDim: number; pos0?: number; yT?: number; dstPos0?: number; inverse?: boolean; keep?: GpuTensor | null },
): RopeShape {
  return {
    B: s.B,
    T: s.T,
    heads: s.heads,
    headDim: s.headDim,
    rotDims: r.rotDims,
    pos0: s.pos0 ?? 0,
    yT: s.yT ?? s.T,
    dstPos0: s.dstPos0 ?? 0,
    style: r.style,
    inverse: s.inverse,
    keep: s.keep,
  };
}

interface Shared {
  setup: Promise<RotarySetup>;
  holders: number;
}

const shared = new WeakMap<GpuRuntime, Map<string, Shared>>();

/**
 * A model's rotary setup for positions 0 … max(positions, context) − 1, uploaded on the first call and shared by every
 * caller with the same tables on the same runtime (a model and its fused copy share theirs) until the last one releases it.
 */
export async function acquireRotary(rt: GpuRuntime, c: ModelConfig, positions: number): Promise<RotarySetup & { release(): void }> {
  const n = Math.max(positions, c.contextLength);
  const rotDims = rotaryDims(c);
  const precision = c.positional.kind === 'rotary' ? (c.positional.invFreqPrecision ?? 'f32') : 'none';
  const key = `${rotDims} ${rotaryTheta(c)} ${precision} ${n} ${rotaryStyle(c)}`;
  let byKey = shared.get(rt);
  if (!byKey) shared.set(rt, (byKey = new Map()));
  let entry = byKey.get(key);
  if (!entry) {
    const upload = async (): Promise<RotarySetup> => {
      const tables = modelRotaryTables(c, n);
      const cos = await rt.tensor('rotary cos (shared)', tables.cos);
      try {
        return { cos, sin: await rt.tensor('rotary sin (shared)', tables.sin), rotDims, style: rotaryStyle(c) };
      } catch (e) {
        rt.release(cos);
        throw e;
      }
    };
    const made: Shared = { setup: upload(), holders: 0 };
    entry = made;
    byKey.set(key, made);
    made.setup.catch(() => byKey.get(key) === made && byKey.delete(key));
  }
  entry.holders++;
  const held = entry;
  let setup: RotarySetup;
  try {
    setup = await held.setup;
  } catch (e) {
    held.holders--;
    throw e;
  }
  let released = false;
  return {
    ...setup,
    release: () => {
      if (released) return;
      released = true;
      if (--held.holders > 0) return;
      if (byKey.get(key) === held) byKey.delete(key);
      rt.release(setup.cos);
      rt.release(setup.sin);
    },
  };
}
