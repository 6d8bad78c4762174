// One layer's heatmap large, in a modal <dialog>: head labels on both axes, values in the cells when they fit, the legend,
// the layer's redundancy, and SVG/PNG export of this view. Escape or Close closes it and focus returns to the heatmap that
// opened it.
import { useEffect, useRef } from 'react';
import { Heatmap, HeatmapLegend } from './Heatmap';
import { SVG_FONT } from './ChartSvg';
import { ExportButtons } from './ExportButtons';
import { KIND_TITLE, type Kind } from './SimilarityGrid';
import { redundancyTooltip } from './RedundancyBars';
import type { MergeLoss } from '../../analysis/redundancy';

export interface HeatmapDialogProps {
  layer: number;
  kind: Kind;
  matrix: number[][];
  order?: number[];
  caption: string[];
  redundancy?: MergeLoss;
  fileBase: string;
  onClose: () => void;
}

const SIZE = 480;

export function HeatmapDialog({ layer, kind, matrix, order, caption, redundancy, fileBase, onClose }: HeatmapDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const view = useRef<SVGSVGElement>(null);
  const opener = useRef<Element | null>(null);
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    opener.current = document.activeElement;
    if (!d.open) d.showModal();
    close.current?.focus();
    return () => {
      // give focus back to the heatmap that opened the dialog (the grid re-renders, so look it up by its label)
      const label = opener.current instanceof Element ? opener.current.getAttribute('data-label') : null;
      const again = label ? document.querySelector<SVGSVGElement>(`[data-testid="heatmap-grid"] [data-label="${label}"]`) : null;
      (again ?? (opener.current as HTMLElement | null))?.focus?.();
    };
  }, []);
  const title = `Layer ${layer} · ${KIND_TITLE[kind]}`;
  const top = 26 + caption.length * 15;
  const height = top + SIZE + 48;
  return (
    <dialog ref={dialog} className="sim-dialog" aria-labelledby="sim-dialog-title" onClose={onClose} data-testid="sim-dialog">
      <div className="sim-dialog-head">
        <h3 id="sim-dialog-title">{title}</h3>
        <ExportButtons
          target={view}
          name={`${fileBase}-layer${layer}-${kind.toUpperCase()}`}
          view={`layer ${layer} ${kind.toUpperCase()} heatmap`}
          testId="sim-export-layer"
        />
        <button type="button" onClick={() => dialog.current?.close()} data-testid="sim-dialog-close" ref={close}>
          Close
        </button>
      </div>
      <svg
        ref={view}
        xmlns="http://www.w3.org/2000/svg"
        width={SIZE}
        height={height}
        viewBox={`0 0 ${SIZE} ${height}`}
        fontFamily={SVG_FONT}
        className="sim-dialog-view"
        role="group"
        aria-label={`${title}: ${caption.join('; ')}`}
      >
        <text x={4} y={14} fontSize={13} fill="#1b263b">
          {title}
        </text>
        {caption.map((line, i) => (
          <text key={i} x={4} y={30 + i * 15} fontSize={11} fill="#5c677d">
            {line}
          </text>
        ))}
        <Heatmap matrix={matrix} order={order} label={`layer ${layer}, ${kind.toUpperCase()}`} size={SIZE} y={top} detailed />
        <HeatmapLegend x={48} y={top + SIZE + 10} width={260} />
      </svg>
      <p className="hint">
        Row and column labels are the heads' original indices; each cell's tooltip names the pair.
        {order && order.some((h, i) => h !== i) ? ' Heads are ordered by clustering, so alike heads sit together.' : ''}
      </p>
      {redundancy && kind !== 'q' && (
        <p className="hint" data-testid="sim-dialog-redundancy">
          {redundancyTooltip(layer, kind, redundancy)}.
        </p>
      )}
      {kind === 'q' && <p className="hint">Query heads keep their own weights under KV fusion; they are shown to compare with K and V.</p>}
    </dialog>
  );
}
