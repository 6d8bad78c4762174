// The frame the race, trade-off and K/V spectrum charts share: a heading, a hint, a *log scale* switch for the perplexity
// axis (left out where a chart has none), the SVG/PNG export (of the chart alone: the switch stays outside the image) and any
// further buttons, then the chart, drawn by a function of the switch. The switch is the reader's view, not a setting of the
// run, so it lives here, not in the link.
import { useState, type ReactNode, type RefObject } from 'react';
import { ExportButtons } from './ExportButtons';

export interface ChartFrameProps {
  title: string;
  hint?: ReactNode;
  /** The chart's <svg> (exported), its file name and what it is called in messages. */
  target: RefObject<SVGSVGElement | null>;
  name: string;
  view: string;
  /** Test id of the export buttons; the switch is `${testId}-log`. */
  exportTestId: string;
  testId: string;
  /** Beside the export buttons (a CSV button, a filter). */
  extra?: ReactNode;
  /** false: no log switch, for a chart whose value axis a log scale does not help (a share from 0 to 100 %). */
  logSwitch?: boolean;
  children: (logY: boolean) => ReactNode;
}

export function ChartFrame({ title, hint, target, name, view, exportTestId, testId, extra, logSwitch = true, children }: ChartFrameProps) {
  const [logY, setLogY] = useState(false);
  return (
    <>
      <div className="sim-view-head">
        <h3>{title}</h3>
        {hint && <span className="hint">{hint}</span>}
        {logSwitch && (
          <label title="A logarithmic perplexity axis: equal ratios look equal, so small differences between low perplexities become visible beside a high one">
            <input type="checkbox" checked={logY} onChange={(e) => setLogY(e.target.checked)} data-testid={`${testId}-log`} /> log scale
          </label>
        )}
        {extra}
        <ExportButtons target={target} name={name} view={view} testId={exportTestId} />
      </div>
      <div className="sim-scroll">{children(logY)}</div>
    </>
  );
}
