import { AppError } from '../errors/index.ts';

/**
 * What an agent's output says about the model: which one wrote or judged it, or why the offline
 * path ran instead. Callers (and people reading a run) should never have to guess which it was.
 */
export type LlmUse = { used: true; model: string } | { used: false; reason: string };

export const NO_MODEL_CONFIGURED: LlmUse = Object.freeze({ used: false, reason: 'no model configured' });

/**
 * The reason to record when a model call fails and the agent falls back. A cancelled call is not a
 * reason to fall back: the step is over, so that error is thrown again.
 */
export function fallbackReason(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) throw err;
  if (err instanceof AppError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
