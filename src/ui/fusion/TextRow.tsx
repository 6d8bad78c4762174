// One text the Fuse panel reads, as a form row: where it comes from (the built-in sample or a file the student picks, the
// file input shown only for a file) and how much of it is read. Calibration and evaluation are both this row.
import { Field } from '../Field';
import type { SettingKey } from '../../lab/settings';

export interface TextRowProps {
  /** The setting that says sample or file, and the one that says how much. */
  source: SettingKey;
  amount: SettingKey;
  /** Test ids: `${testId}-source`, `${testId}-file`, and the amount's own. */
  testId: string;
  amountTestId: string;
  label: string;
  /** The sample's name in the choice ("built-in sample, held out"). */
  sampleLabel: string;
  /** What the text is for, in the source's tooltip; the amount's label and tooltip. */
  title: string;
  amountLabel: string;
  amountTitle: string;
  /** The file input's accessible name ("calibration text file"). */
  fileLabel: string;
  isFile: boolean;
  onFile: (file: File | null) => void;
}

export function TextRow(p: TextRowProps) {
  return (
    <div className="form-row">
      <Field k={p.source} testId={`${p.testId}-source`} label={p.label} options={{ sample: p.sampleLabel, file: 'a text file…' }} title={p.title} />
      {p.isFile && (
        <input
          type="file"
          accept=".txt,text/plain"
          aria-label={p.fileLabel}
          onChange={(e) => p.onFile(e.target.files?.[0] ?? null)}
          data-testid={`${p.testId}-file`}
        />
      )}
      <Field k={p.amount} testId={p.amountTestId} label={p.amountLabel} title={p.amountTitle} />
    </div>
  );
}
