import { setTimeout as sleep } from 'node:timers/promises';

/** Waits until fn returns a truthy value; fails with the label when the deadline passes. */
export async function poll<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs: number; label: string; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(opts.intervalMs ?? 50);
  }
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.label}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}
