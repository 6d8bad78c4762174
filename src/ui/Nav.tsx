// The lab as a lesson: its sections in order — Model, Similarity, Fuse, Recover, Compare — and where one is. Buttons scroll
// to a section (the page address keeps the settings, so no #anchors); the section the reader is in is marked.
import { useCallback, useEffect, useRef, useState } from 'react';

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
  // A clicked button stays current while the scroll it started runs, and after it ends (the page may not be able to bring
  // that section up to the reading line). The pin ends when that scroll ends, when the reader acts (wheel, touch, key,
  // pointer), or a second after the last scroll event; the next scroll recomputes.
  const pinned = useRef(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const release = useCallback(() => {
    pinned.current = false;
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
  }, []);
  const hold = useCallback(() => {
    pinned.current = true;
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(release, 1000);
  }, [release]);
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
      if (pinned.current) return hold();
      if (!frame) frame = requestAnimationFrame(update);
    };
    const readerActs = ['wheel', 'touchstart', 'keydown', 'pointerdown'] as const;
    window.addEventListener('scroll', onScroll, { passive: true });
    window.addEventListener('scrollend', release);
    window.addEventListener('resize', onScroll);
    for (const e of readerActs) window.addEventListener(e, release, { passive: true, capture: true });
    update();
    return () => {
      window.removeEventListener('scroll', onScroll);
      window.removeEventListener('scrollend', release);
      window.removeEventListener('resize', onScroll);
      for (const e of readerActs) window.removeEventListener(e, release, { capture: true });
      if (frame) cancelAnimationFrame(frame);
      release();
    };
  }, [hold, release]);
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
            hold();
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
