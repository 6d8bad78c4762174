// The lab as a lesson: its sections in order — Model, Similarity, Fuse, Recover, Compare — and where one is. Buttons scroll
// to a section (the page address keeps the settings, so no #anchors); the section the reader is in is marked.
import { useEffect, useRef, useState } from 'react';

const SECTIONS: [string, string, string][] = [
  ['model', 'Model', 'Load a checkpoint and see its head layout and KV-cache cost'],
  ['similarity', 'Similarity', 'Which heads of a layer are alike'],
  ['fuse', 'Fuse', 'Convert to fewer K/V heads: mean-pool, aligned merge, DHA'],
  ['recover', 'Recover', 'Train converted models back toward the original, side by side'],
  ['compare', 'Compare', 'Every run on one trade-off chart; attention before and after'],
  ['evaluate', 'Evaluate', 'Perplexity and generation'],
  ['gpu', 'GPU', 'The adapter, its limits, the kernel self-test'],
];

/**
 * The section the reader is in: the last one whose top is above the reading line (a third of the way down the viewport), or
 * the first when none is. It depends on where sections start, not on their heights or fonts.
 */
export function sectionAt(tops: [string, number][], viewportHeight: number): string {
  const line = viewportHeight / 3;
  let at = tops[0]?.[0] ?? SECTIONS[0][0];
  for (const [id, top] of tops) if (top <= line) at = id;
  return at;
}

export function Nav() {
  const [current, setCurrent] = useState('model');
  // A clicked button stays current while the scroll it started runs (and after it ends: the page may not be able to bring
  // that section up to the reading line); the next scroll of the reader's own recomputes.
  const pinned = useRef<ReturnType<typeof setTimeout> | null>(null);
  const pin = () => {
    if (pinned.current) clearTimeout(pinned.current);
    pinned.current = setTimeout(() => (pinned.current = null), 400);
  };
  useEffect(() => {
    let frame = 0;
    const update = () => {
      frame = 0;
      const tops = SECTIONS.flatMap(([id]) => {
        const el = document.getElementById(id);
        return el ? [[id, el.getBoundingClientRect().top] as [string, number]] : [];
      });
      if (tops.length) setCurrent(sectionAt(tops, window.innerHeight));
    };
    const onScroll = () => {
      if (pinned.current) return pin();
      if (!frame) frame = requestAnimationFrame(update);
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    window.addEventListener('resize', onScroll);
    update();
    return () => {
      window.removeEventListener('scroll', onScroll);
      window.removeEventListener('resize', onScroll);
      if (frame) cancelAnimationFrame(frame);
      if (pinned.current) clearTimeout(pinned.current);
    };
  }, []);
  return (
    <nav className="lab-nav" aria-label="Sections" data-testid="nav">
      {SECTIONS.map(([id, label, tip], i) => (
        <button
          key={id}
          type="button"
          className={current === id ? 'current' : undefined}
          aria-current={current === id ? 'step' : undefined}
          title={tip}
          data-testid={`nav-${id}`}
          onClick={() => {
            setCurrent(id);
            pin();
            document.getElementById(id)?.scrollIntoView({ behavior: 'smooth', block: 'start' });
          }}
        >
          {i < 5 ? `${i + 1}. ` : ''}
          {label}
        </button>
      ))}
    </nav>
  );
}
