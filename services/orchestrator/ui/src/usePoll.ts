import { useEffect, useRef } from 'react';

/** Runs `load` now and every `everyMs` while the page shows, one request at a time. */
export function usePoll(load: (signal: AbortSignal) => Promise<void>, everyMs: number, deps: unknown[]): void {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        await latest.current(controller.signal);
      } finally {
        if (!controller.signal.aborted) timer = setTimeout(() => void tick(), everyMs);
      }
    };
    void tick();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, deps);
}
