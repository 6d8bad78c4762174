// The <svg> every exported chart draws into, written once: its size and font set as attributes (so an exported SVG or PNG
// looks as on the page), its accessible name, and the caption at the top — the first line dark (the title), the others
// muted (what was run) — which travels with the image when it is exported. The chart's own drawing goes in as children,
// below the caption (CAPTION_LINE px a line).
import type { ReactNode, Ref, SVGProps } from 'react';

export const SVG_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
/** Axis text, notes and caption lines after the first. */
export const MUTED = '#5c677d';
export const INK = '#1b263b';
/** Height of a caption line; a chart's drawing starts below `caption.length * CAPTION_LINE`. */
export const CAPTION_LINE = 16;

export interface ChartSvgProps extends Omit<SVGProps<SVGSVGElement>, 'ref' | 'width' | 'height' | 'children'> {
  ref?: Ref<SVGSVGElement>;
  width: number;
  height: number;
  /** The accessible name (screen readers; the exported file's description). */
  label: string;
  caption: string[];
  /** Baseline of the first caption line (14 unless a chart is tighter). */
  captionTop?: number;
  /** Test id of the first caption line, where a test reads it. */
  captionTestId?: string;
  children?: ReactNode;
}

export function ChartSvg({ ref, width, height, label, caption, captionTop = 14, captionTestId, role = 'img', children, ...rest }: ChartSvgProps) {
  return (
    <svg
      ref={ref}
      xmlns="http://www.w3.org/2000/svg"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      fontFamily={SVG_FONT}
      role={role}
      aria-label={label}
      {...rest}
    >
      {caption.map((text, i) => (
        <text key={i} x={4} y={captionTop + i * CAPTION_LINE} fontSize={i ? 11 : 12} fill={i ? MUTED : INK} data-testid={i ? undefined : captionTestId}>
          {text}
        </text>
      ))}
      {children}
    </svg>
  );
}

/** A value axis' title, turned to read upwards beside the axis, centred between the plot's top and bottom. */
export function YTitle({ top, bottom, children }: { top: number; bottom: number; children: ReactNode }) {
  const y = (top + bottom) / 2;
  return (
    <text x={12} y={y} fontSize={10} fill={MUTED} textAnchor="middle" transform={`rotate(-90 12 ${y})`}>
      {children}
    </text>
  );
}

/** The x axis' title, centred under the plot between its left and right edges, near the chart's bottom (at `height` − 8). */
export function XTitle({ left, right, height, children }: { left: number; right: number; height: number; children: ReactNode }) {
  return (
    <text x={(left + right) / 2} y={height - 8} fontSize={10} fill={MUTED} textAnchor="middle">
      {children}
    </text>
  );
}
