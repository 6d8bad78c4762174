// The <svg> every exported chart draws into (src/ui/charts/ChartSvg.tsx): what an exported file carries on its own — size,
// viewBox, font, accessible name and the caption lines — rendered without a browser.
import { describe, expect, it } from 'vitest';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { ChartSvg, INK, MUTED, SVG_FONT, XTitle, YTitle } from '../src/ui/charts/ChartSvg';

const render = (props: Parameters<typeof ChartSvg>[0]) => renderToStaticMarkup(createElement(ChartSvg, props));
/** The attributes of the first `<tag …>` in the markup, by name. */
const attrs = (html: string, tag: string) =>
  Object.fromEntries([...html.match(new RegExp(`<${tag}\\b[^>]*>`))![0].matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], m[2].replace(/&quot;/g, '"')]));
/** Each <text>: its content and attributes. */
const texts = (html: string): Record<string, string>[] =>
  [...html.matchAll(/<text\b([^>]*)>([^<]*)<\/text>/g)].map((m) => ({ text: m[2], ...attrs(`<text${m[1]}>`, 'text') }));

describe('ChartSvg', () => {
  it('sets size, viewBox and font as attributes and writes the caption: the title dark, the notes muted, one line apart', () => {
    const html = render({
      width: 300,
      height: 120,
      label: 'a chart',
      caption: ['Title', 'note one', 'note two'],
      captionTestId: 'cap',
      'data-testid': 'x',
    } as never);
    const svg = attrs(html, 'svg');
    expect(svg).toMatchObject({ xmlns: 'http://www.w3.org/2000/svg', width: '300', height: '120', viewBox: '0 0 300 120', 'font-family': SVG_FONT });
    expect(svg).toMatchObject({ role: 'img', 'aria-label': 'a chart', 'data-testid': 'x' });
    expect(texts(html).map((t) => [t.text, t.y, t.fill, t['font-size'], t['data-testid']])).toEqual([
      ['Title', '14', INK, '12', 'cap'],
      ['note one', '30', MUTED, '11', undefined],
      ['note two', '46', MUTED, '11', undefined],
    ]);
  });

  it('draws the chart below the caption and takes a role and a first baseline of its own', () => {
    const html = render({ width: 10, height: 10, label: 'l', caption: ['only'], captionTop: 12, role: 'group', children: createElement('rect', { id: 'r' }) });
    expect(attrs(html, 'svg').role).toBe('group');
    expect(texts(html)[0].y).toBe('12');
    expect(html).toMatch(/<\/text><rect id="r"><\/rect><\/svg>$/);
  });

  it('puts the axis titles at the middle of the plot: y turned upwards beside it, x under it', () => {
    const y = texts(renderToStaticMarkup(createElement(YTitle, { top: 40, bottom: 200, children: 'loss' })))[0];
    expect(y).toMatchObject({ text: 'loss', x: '12', y: '120', transform: 'rotate(-90 12 120)', 'text-anchor': 'middle', fill: MUTED });
    const x = texts(renderToStaticMarkup(createElement(XTitle, { left: 50, right: 250, height: 300, children: 'tokens' })))[0];
    expect(x).toMatchObject({ text: 'tokens', x: '150', y: '292', 'text-anchor': 'middle' });
  });
});
