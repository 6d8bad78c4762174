// The lab as a lesson: its sections in order — Model, Similarity, Fuse, Recover, Compare — and where one is. Buttons scroll
// to a section (the page address keeps the settings, so no #anchors); the section in view is marked.
import { useEffect, useState } from 'react';

const SECTIONS: [string, string, string][] = [
  ['model', 'Model', 'Load a checkpoint and see its head layout and KV-cache cost'],
  ['similarity', 'Similarity', 'Which heads of a layer are alike'],
  ['fuse', 'Fuse', 'Convert to fewer K/V heads: mean-pool, aligned merge, DHA'],
  ['recover', 'Recover', 'Train converted models back toward the original, side by side'],
  ['compare', 'Compare', 'Every run on one trade-off chart; attention before and after'],
  ['evaluate', 'Evaluate', 'Perplexity and generation'],
  ['gpu', 'GPU', 'The adapter, its limits, the kernel self-test'],
];

export function Nav() {
  const [current, setCurrent] = useState('model');
  useEffect(() => {
    if (typeof IntersectionObserver === 'undefined') return;
    const seen = new Map<string, number>();
    const io = new IntersectionObserver(
      (entries) => {
        for (const e of entries) seen.set(e.target.id, e.isIntersecting ? e.intersectionRatio : 0);
        const best = SECTIONS.map(([id]) => [id, seen.get(id) ?? 0] as const).reduce((a, b) => (b[1] > a[1] ? b : a));
        if (best[1] > 0) setCurrent(best[0]);
      },
      { threshold: [0, 0.1, 0.25, 0.5] },
    );
    const observe = () => SECTIONS.forEach(([id]) => {
      const el = document.getElementById(id);
      if (el) io.observe(el);
    });
    observe();
    const again = setInterval(observe, 2000); // sections appear once a model is loaded
    return () => {
      clearInterval(again);
      io.disconnect();
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
          onClick={() => document.getElementById(id)?.scrollIntoView({ behavior: 'smooth', block: 'start' })}
        >
          {i < 5 ? `${i + 1}. ` : ''}
          {label}
        </button>
      ))}
    </nav>
  );
}
