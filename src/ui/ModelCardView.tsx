// The model card of the loaded model: family, sizes, heads, positions, what its KV cache costs per token (and, for a model
// whose layers cache a latent, the latent's width and the rotary pairs each K head keeps), tokenizer and GPU memory.
import type { ReactNode } from 'react';
import { useGpu } from '../lab/gpuStore';
import { formatBytes } from '../format';
import { latentLine, type ModelCard } from '../model/card';

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

const LATENT_TIP =
  'Latent KV (multi-head latent attention, MLA): each layer caches one latent of d_c numbers per token instead of K and V heads; every head ' +
  'rebuilds its values, and the parts of its keys that carry no position, from it. Rotary position encoding (RoPE) turns each pair of key ' +
  'dims by an angle that grows with the position: a rotary pair. Each K head keeps r of its pairs with their rotation, cached beside the ' +
  'latent; on the others queries and keys no longer rotate. Bytes per token: layers × (d_c + K heads × 2r) × 4 (float32).';

/** A card row: its label, value, test id (card-…) and tooltip. */
type Row = [string, ReactNode, string, string];

export function ModelCardView({ card, name }: { card: ModelCard; name: string }) {
  const limits = useGpu((s) => s.summary?.limits);
  const uniform = card.kvHeads.every((k) => k.k === card.kvHeads[0].k && k.v === card.kvHeads[0].v);
  const rows: Row[] = [
    ['Model', name, 'name', 'The folder or file it came from'],
    ['Family', `${card.family} (${card.architecture})`, 'family', 'Architecture as named by the checkpoint'],
    ['Parameters', formatCount(card.params), 'params', `${card.params.toLocaleString('en')} weights`],
    ['Layers × heads', `${card.layers} × ${card.heads}`, 'layers-heads', 'Transformer layers × query heads per layer'],
    [
      'K / V heads per layer',
      uniform ? `${card.kvHeads[0].k} K / ${card.kvHeads[0].v} V in every layer` : card.kvHeads.map((k) => `${k.k}/${k.v}`).join(' · '),
      'kv-heads',
      'Key heads and value heads each layer keeps; fewer heads mean a smaller KV cache',
    ],
    ['Head dim', card.headDim, 'head-dim', 'Width of one attention head'],
    ['Width · FFN · vocab', `${card.dim} · ${card.ffnDim} · ${card.vocab}`, 'dims', 'Model width, MLP hidden width, vocabulary size'],
    ['Context', `${card.contextLength} tokens`, 'context', 'Longest sequence the model was built for'],
    ['Positions · norm · MLP', `${card.positional} · ${card.norm} · ${card.mlp}`, 'kinds', 'Positional encoding, normalisation and MLP kinds'],
    [
      'KV cache',
      `${formatBytes(card.kvBytesPerToken)} per token in f32 (${formatBytes(card.kvBytesPerToken / 2)} in 16 bits)`,
      'kv-bytes',
      'Bytes of keys and values cached per generated token over all layers: in float32 as the lab computes, and in 16 bits as deployed caches store them. The Evaluate panel’s KV cache row quantises them further',
    ],
    ...(card.latent ? [['Latent KV', latentLine(card.latent, card.kvBytesPerToken), 'latent', LATENT_TIP] satisfies Row] : []),
    ['Tokenizer', card.tokenizer ?? 'none (token ids only)', 'tokenizer', 'Found beside the checkpoint'],
  ];
  return (
    <div className="model-card" data-testid="model-card">
      <table>
        <tbody>
          {rows.map(([label, value, id, tip]) => (
            <tr key={id} title={tip}>
              <th scope="row">{label}</th>
              <td data-testid={`card-${id}`}>{value}</td>
            </tr>
          ))}
          {card.gpu && (
            <tr title="Weights are uploaded once; activations are for one sequence of the full context">
              <th scope="row">GPU memory</th>
              <td data-testid="card-gpu">
                {formatBytes(card.gpu.weightBytes)} weights + {formatBytes(card.gpu.activationBytes)} activations
                {limits && ` — largest storage binding ${formatBytes(limits.maxStorageBufferBindingSize)}`}
                {card.gpu.split.length > 0
                  ? `; split across bindings: ${card.gpu.split.map((s) => `${s.name} (${s.bindings})`).join(', ')}`
                  : '; every tensor fits one binding'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
