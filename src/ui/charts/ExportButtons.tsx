// "SVG" and "PNG" buttons for one view: they serialise the view's <svg> element (see exportImage.ts).
import { useState, type RefObject } from 'react';
import { downloadPng, downloadSvg } from './exportImage';

export function ExportButtons({ target, name, view, testId }: { target: RefObject<SVGSVGElement | null>; name: string; view: string; testId: string }) {
  const [error, setError] = useState<string | null>(null);
  const save = async (fmt: 'svg' | 'png') => {
    const svg = target.current;
    if (!svg) return;
    setError(null);
    try {
      if (fmt === 'svg') downloadSvg(svg, `${name}.svg`);
      else await downloadPng(svg, `${name}.png`);
    } catch (e) {
      setError(`Could not export the ${view} as ${fmt.toUpperCase()}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  return (
    <span className="sim-export">
      {(['svg', 'png'] as const).map((fmt) => (
        <button
          key={fmt}
          type="button"
          className="secondary"
          data-testid={`${testId}-${fmt}`}
          title={`Save the ${view} as ${fmt === 'svg' ? 'an SVG vector image' : 'a PNG image (twice the size on screen)'}`}
          onClick={() => void save(fmt)}
        >
          {fmt.toUpperCase()}
        </button>
      ))}
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
