// Progress of long work on stderr, in every mode (--json keeps stdout for the result): one rewritten line on a terminal,
// else a line per stage change and at most one per two seconds within a stage, so logs stay readable.
import type { Progress } from '../progress';

export function progressPrinter(label = ''): { onProgress: (p: Progress) => void; done: () => void } {
  const tty = Boolean(process.stderr.isTTY);
  let lastStage = '';
  let lastAt = 0;
  let open = false;
  return {
    onProgress: (p) => {
      const line = `${label}${p.stage} ${p.done}/${p.total}${p.detail ? ` ${p.detail}` : ''}`;
      if (tty) {
        process.stderr.write(`\r${line.slice(0, 160).padEnd(80)}`);
        open = true;
        return;
      }
      const now = Date.now();
      if (p.stage !== lastStage || p.done === p.total || now - lastAt > 2000) {
        process.stderr.write(`${line}\n`);
        lastStage = p.stage;
        lastAt = now;
      }
    },
    done: () => {
      if (open) process.stderr.write('\n');
      open = false;
    },
  };
}
