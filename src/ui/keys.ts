// The lab's keys, when focus is not in a text field: Space pauses or resumes the running fusion, training or race, → takes
// one step while paused, Escape cancels it. Listed in the Keys help of the lesson bar.
import { useEffect } from 'react';
import { useFusion } from '../lab/fusionStore';
import { useRace } from '../lab/raceStore';

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag !== 'INPUT') return false;
  return !['checkbox', 'radio', 'button', 'submit', 'reset', 'file', 'range', 'color'].includes((target as HTMLInputElement).type);
}

/** The run the keys act on: the race when it runs, else a fusion run. */
function activeRun() {
  const race = useRace.getState();
  if (race.running) return race;
  const fusion = useFusion.getState();
  return fusion.running ? fusion : null;
}

export function useRunKeys() {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || typing(e.target)) return;
      if (document.querySelector('dialog[open]')) return;
      const run = activeRun();
      if (!run) return;
      if (e.key === ' ') {
        e.preventDefault();
        if (run.paused) run.resume();
        else run.pause();
      } else if (e.key === 'ArrowRight' && run.paused) {
        e.preventDefault();
        run.step();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        run.cancel();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
