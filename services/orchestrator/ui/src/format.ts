import type { ModelUsage, UsageTotal } from './types.ts';

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '–';
}

export function took(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

export function span(from: string | null, to: string | null): number | null {
  return from && to ? new Date(to).getTime() - new Date(from).getTime() : null;
}

/** Dollars to the cent, or to four places below a cent, so small runs do not all read $0.00. */
export function dollars(usd: number): string {
  return `$${usd >= 0.01 || usd === 0 ? usd.toFixed(2) : usd.toFixed(4)}`;
}

/** "1,234 tokens, $0.01" for a run or an attempt; "+ unknown" when a model had no price. */
export function spent(u: UsageTotal): string {
  const unknown = u.unpriced_models.length ? ' + unknown' : '';
  return `${u.tokens.toLocaleString('en-US')} tokens, ${dollars(u.cost_usd)}${unknown}`;
}

/** An attempt's usage list in all. */
export function attemptSpent(usage: ModelUsage[]): UsageTotal {
  return {
    tokens: usage.reduce((n, u) => n + u.prompt_tokens + u.completion_tokens, 0),
    calls: usage.reduce((n, u) => n + u.calls, 0),
    cost_usd: usage.reduce((n, u) => n + (u.cost_usd ?? 0), 0),
    unpriced_models: usage.filter((u) => typeof u.cost_usd !== 'number').map((u) => u.model),
  };
}

/** A run's or an attempt's error as a person reads it: "STEPS_FAILED: step "build" failed: ...", not its JSON. */
export function errorText(error: unknown): string {
  if (typeof error === 'string') return error;
  const e = error as { code?: unknown; message?: unknown } | null;
  if (e && typeof e.message === 'string') return typeof e.code === 'string' ? `${e.code}: ${e.message}` : e.message;
  return JSON.stringify(error);
}

/** At most `max` characters, with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
