// One control of the settings table (src/lab/settings.ts), drawn by its kind: a number input, a checkbox, a select or radio
// buttons, checkboxes for a set, a text input. A lesson link can hide it (nothing is drawn) or lock it (shown, read-only).
import type { ReactNode } from 'react';
import { CONTROL_BY_KEY, type SettingKey, type Value } from '../lab/settings';
import { useSetting } from '../lab/settingsStore';

export interface FieldProps {
  k: SettingKey;
  testId: string;
  title: string;
  label?: ReactNode;
  step?: number;
  /** enum: radio buttons (value → label) instead of a select; set: checkbox labels. */
  choices?: Record<string, ReactNode>;
  /** Tooltips per choice. */
  choiceTitles?: Record<string, string>;
  /** enum as a select: the options' labels (default: the values). */
  options?: Record<string, string>;
  /** A choice's test id (radio buttons, set members). */
  choiceTestId?: (value: string) => string;
  disabled?: boolean;
  className?: string;
  /** Text after the input (units). */
  suffix?: ReactNode;
}

const LOCKED = ' (locked by the lesson)';

export function Field(props: FieldProps) {
  const spec = CONTROL_BY_KEY.get(props.k);
  if (!spec) throw new Error(`no setting "${props.k}"`);
  const [rawValue, setTyped, { hidden, locked }] = useSetting(props.k);
  const value: Value = rawValue;
  const set = setTyped as (v: Value) => void;
  if (hidden) return null;
  const disabled = props.disabled || locked;
  const title = `${props.title}${locked ? LOCKED : ''}`;
  const label = props.label ?? spec.label;
  const cls = [props.className, locked ? 'locked' : ''].filter(Boolean).join(' ') || undefined;
  switch (spec.kind) {
    case 'int':
    case 'number':
      return (
        <label title={title} className={cls}>
          {label}{' '}
          <input
            type="number"
            value={Number.isFinite(value as number) ? (value as number) : ''}
            min={spec.min}
            max={spec.max}
            step={props.step ?? (spec.kind === 'int' ? 1 : 'any')}
            disabled={disabled}
            onChange={(e) => set(e.target.valueAsNumber)}
            data-testid={props.testId}
            data-setting={props.k}
            title={title}
          />
          {props.suffix}
        </label>
      );
    case 'bool':
      return (
        <label title={title} className={cls}>
          <input
            type="checkbox"
            checked={Boolean(value)}
            disabled={disabled}
            onChange={(e) => set(e.target.checked)}
            data-testid={props.testId}
            data-setting={props.k}
            title={title}
          />{' '}
          {label}
        </label>
      );
    case 'text':
      return (
        <label title={title} className={[cls, 'grow'].filter(Boolean).join(' ')}>
          {label}{' '}
          <input
            type="text"
            value={String(value)}
            maxLength={spec.maxLength}
            disabled={disabled}
            onChange={(e) => set(e.target.value)}
            data-testid={props.testId}
            data-setting={props.k}
            title={title}
          />
        </label>
      );
    case 'enum':
      if (props.choices) {
        return (
          <>
            {Object.entries(props.choices).map(([v, text]) => (
              <label key={v} title={`${props.choiceTitles?.[v] ?? title}${locked ? LOCKED : ''}`} className={cls}>
                <input
                  type="radio"
                  name={props.k}
                  value={v}
                  checked={value === v}
                  disabled={disabled}
                  onChange={() => set(v)}
                  data-testid={props.choiceTestId?.(v) ?? `${props.testId}-${v}`}
                  data-setting={props.k}
                />{' '}
                {text}
              </label>
            ))}
          </>
        );
      }
      return (
        <label title={title} className={cls}>
          {label}{' '}
          <select
            value={String(value)}
            disabled={disabled}
            onChange={(e) => set(e.target.value)}
            data-testid={props.testId}
            data-setting={props.k}
            title={title}
          >
            {spec.values!.map((v) => (
              <option key={v} value={v}>
                {props.options?.[v] ?? v}
              </option>
            ))}
          </select>
        </label>
      );
    case 'set': {
      const members = value as string[];
      return (
        <>
          {spec.values!.map((v) => (
            <label key={v} title={`${props.choiceTitles?.[v] ?? title}${locked ? LOCKED : ''}`} className={cls}>
              <input
                type="checkbox"
                checked={members.includes(v)}
                disabled={disabled}
                onChange={() => set(spec.values!.filter((x) => (x === v ? !members.includes(v) : members.includes(x))))}
                data-testid={props.choiceTestId?.(v) ?? `${props.testId}-${v}`}
                data-setting={props.k}
              />{' '}
              {props.choices?.[v] ?? v}
            </label>
          ))}
        </>
      );
    }
  }
}
