// Small argument parser for the headlab command: positionals, --flag, --key value and --key=value.
export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], booleanFlags: string[] = []): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (flags.has(name)) throw new UsageError(`--${name} is given twice`);
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (booleanFlags.includes(a.slice(2)) || i + 1 >= argv.length || argv[i + 1].startsWith('--')) flags.set(a.slice(2), true);
      else flags.set(a.slice(2), argv[++i]);
    } else positionals.push(a);
  }
  return { positionals, flags };
}

export function intList(value: string | true | undefined, fallback: number[], flag: string): number[] {
  if (value === undefined) return fallback;
  if (value === true) throw new UsageError(`--${flag} needs a value such as 256,1024`);
  const out = value.split(',').map((s) => Number(s.trim()));
  if (out.some((n) => !Number.isInteger(n) || n <= 0)) throw new UsageError(`--${flag}: "${value}" is not a list of positive integers`);
  return out;
}
