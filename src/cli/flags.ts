// The flags each command takes, in one table: the parser reads a command's boolean flags as such, and anything else — an
// unknown flag, a value given to a boolean, a missing or surplus model path — is refused with one line that names it and
// the flags that command takes (exit code 2).
import { parseArgs, UsageError, type ParsedArgs } from './args';
import { HEAD_CHOICES } from '../fusion/recipe';

const split = (p: string) => [`${p}text`, `${p}tokens`, `${p}split`, `${p}min-chars`, `${p}skip-docs`, `${p}max-docs`];
/** End-to-end training settings, shared by `train` (no prefix) and `fuse` (prefix train-). */
export const TRAIN_FLAGS = ['steps', 'lr', 'params', 'loss', 'kl-weight', 'batch', 'seq', 'schedule', 'warmup', 'min-lr', 'weight-decay', 'clip', 'eval-every'];

/** A quantised KV cache (src/model/kvQuant.ts): bits, group, recent exact positions, key axis, keys before/after rotary; --keep-sink. */
export const KV_FLAGS = ['kv-bits', 'kv-group', 'kv-residual', 'key-axis', 'key-rope'];

interface CommandFlags {
  values: string[];
  booleans: string[];
  /** Positional arguments: the model path (1) or none (0). */
  positionals: 0 | 1;
}

export const COMMAND_FLAGS: Record<string, CommandFlags> = {
  info: { values: ['tokenizer'], booleans: [], positionals: 1 },
  logits: { values: ['input', 'out', 'tokenizer'], booleans: [], positionals: 1 },
  eval: { values: [...split(''), 'tokenizer', ...KV_FLAGS], booleans: ['json', 'keep-sink'], positionals: 1 },
  generate: { values: ['prompt', 'tokens', 'seed', 'temperature', 'top-k', 'tokenizer', ...KV_FLAGS], booleans: ['keep-sink'], positionals: 1 },
  similarity: { values: ['metric', 'text', 'tokens', 'max-tokens', 'tokenizer'], booleans: ['json'], positionals: 1 },
  fuse: {
    values: [
      'method',
      'kv-budget',
      'out',
      'tokenizer',
      'max-tokens',
      ...split(''),
      ...split('eval-'),
      'steps',
      'seed',
      'tokens-per-step',
      'seq-len',
      'lr',
      'fusion-params',
      'fusion-inputs',
      'check-every',
      'fusion-trains',
      'operator-lr',
      ...HEAD_CHOICES.map((c) => c.flag),
      'rope-select',
      'latent-init',
      'rope-pairs',
      ...TRAIN_FLAGS.map((f) => `train-${f}`),
      ...KV_FLAGS,
    ],
    booleans: ['no-renorm', 'json', 'keep-sink'],
    positionals: 1,
  },
  train: { values: ['out', 'tokenizer', 'teacher', 'max-tokens', 'seed', ...split(''), ...split('eval-'), ...TRAIN_FLAGS], booleans: ['json'], positionals: 1 },
  ladder: {
    values: [
      'kv-budget',
      'tokenizer',
      'max-tokens',
      ...split(''),
      ...split('eval-'),
      'seeds',
      'seed',
      'own-steps',
      'only',
      'jsonl',
      ...TRAIN_FLAGS.map((f) => `train-${f}`),
      ...KV_FLAGS,
    ],
    booleans: ['no-latent', 'json', 'keep-sink'],
    positionals: 1,
  },
  example: { values: ['text', 'out', 'tokenizer'], booleans: [], positionals: 1 },
  gpu: { values: [], booleans: [], positionals: 0 },
  selftest: { values: [], booleans: ['json'], positionals: 0 },
  bench: {
    values: ['sizes', 'variant', 'forward', 'train', 'attention', 'search', 'budget', 'text', 'batch', 'seq', 'steps'],
    booleans: ['json'],
    positionals: 0,
  },
};

/** Parses a command's arguments and refuses what the command does not take. */
export function parseCommand(command: string, argv: string[]): ParsedArgs {
  const spec = COMMAND_FLAGS[command];
  if (!spec) throw new UsageError(`unknown command "${command}"; commands: ${Object.keys(COMMAND_FLAGS).join(', ')} (headlab help shows each one's flags)`);
  const args = parseArgs(argv, spec.booleans);
  const takes = () => [...spec.values, ...spec.booleans].map((f) => `--${f}`).join(' ') || 'no flags';
  for (const [flag, value] of args.flags) {
    if (spec.booleans.includes(flag)) {
      if (value !== true) throw new UsageError(`${command}: --${flag} takes no value (got "${value}")`);
    } else if (!spec.values.includes(flag)) {
      throw new UsageError(`${command}: unknown flag --${flag}; ${command} takes ${takes()}`);
    } else if (value === true) {
      throw new UsageError(`${command}: --${flag} needs a value`);
    }
  }
  if (args.positionals.length > spec.positionals) {
    throw new UsageError(
      `${command}: unexpected argument "${args.positionals[spec.positionals]}"${spec.positionals ? ' (one model path only)' : ''}; ${command} takes ${takes()}`,
    );
  }
  return args;
}
