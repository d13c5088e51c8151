import parseDuration, { type StringValue } from 'ms';
import type { PlanStep } from '../../state/index.ts';
import { referencedSteps } from './input-refs.ts';

// Flow control's shared vocabulary: what a key expression reads, what a period means, and what is
// wrong with a step's `concurrency` or `rate_limit`. A run's own (POST /orchestrate, a named
// workflow) is read in routes/orchestrate.ts, a step's in call-gate.ts, both through these.

export interface RateLimit {
  /** The key's value ("input.tenant=acme", "provider-x"): what the limit counts by. */
  key: string;
  limit: number;
  periodMs: number;
}

/** "input.repo" reads the input; anything else is a name shared by every run or call that gives it. */
const INPUT_PATH = /^input((?:\.[A-Za-z0-9_-]+)+)$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$/;

export type KeyReading = { value: string } | { problem: string };

/**
 * The value of a key expression over `input`: "input.repo" with {repo: "a/b"} is "input.repo=a/b",
 * a plain name is itself (where `names` allows one: a run's concurrency key must read its input). A problem (in words) when it reads nothing or something that is not a value.
 */
export function readKey(expr: string, input: Record<string, unknown>, names = true): KeyReading {
  const path = INPUT_PATH.exec(expr)?.[1]?.slice(1).split('.');
  if (!path) {
    const problem = keyFormProblem(expr, names);
    return problem ? { problem } : { value: expr };
  }
  let value: unknown = input;
  for (const part of path) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  if (value === undefined || value === null || value === '')
    return { problem: `"${expr}" reads nothing: the input has no ${path.join('.')}` };
  if (typeof value === 'object') return { problem: `"${expr}" reads an object or a list; point it at a string or a number` };
  return { value: `${expr}=${String(value)}` };
}

/** What is wrong with a key expression's form, before there is an input to read. */
export function keyFormProblem(expr: string, names = true): string | undefined {
  if (INPUT_PATH.test(expr) || (names && NAME.test(expr) && !expr.startsWith('input'))) return undefined;
  return names
    ? `"${expr}" is neither a path into the input (e.g. "input.repo", "input.tenant.id") nor a plain name (e.g. "provider-x")`
    : `"${expr}" is not a path into the input (e.g. "input.repo", "input.tenant.id")`;
}

/** A duration with a unit ("90s", "5m", "1d") in milliseconds, or undefined when it is not one. */
export function durationMs(text: string): number | undefined {
  // A bare number is refused: seconds or milliseconds would be a guess.
  const ms = /[a-z]\s*$/i.test(text) ? parseDuration(text as StringValue) : undefined;
  return ms !== undefined && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

/** A rate limit's period ("1s", "1m", "1h") in milliseconds, from 1 ms to a day, or undefined. */
export function periodMs(period: string): number | undefined {
  const ms = durationMs(period);
  return ms !== undefined && ms >= 1 && ms <= 86_400_000 ? ms : undefined;
}

/**
 * What is wrong with the plan's step-level flow control. A key path is checked against the step's
 * own input when that input is literal there; one that comes from a dependency's output is read
 * when the call goes out (and a call whose key reads nothing then counts under the step's agent).
 */
export function flowControlProblems(steps: readonly PlanStep[]): string[] {
  const problems: string[] = [];
  for (const s of steps) {
    for (const [field, key] of [
      ['concurrency', s.concurrency?.key],
      ['rate_limit', s.rate_limit?.key],
    ] as const) {
      if (key === undefined) continue;
      const reading = readKey(key, s.input);
      if ('problem' in reading && !(INPUT_PATH.test(key) && referencedSteps(s.input).size > 0))
        problems.push(`step "${s.id}" ${field}.key ${reading.problem}`);
    }
    if (s.rate_limit && periodMs(s.rate_limit.period) === undefined)
      problems.push(
        `step "${s.id}" rate_limit.period "${s.rate_limit.period}" is not a duration with a unit from 1ms to 1d (e.g. "1s", "1m")`,
      );
    if ((s.concurrency || s.rate_limit) && s.type === 'approval')
      problems.push(`step "${s.id}" is an approval: concurrency and rate_limit apply to agent calls`);
  }
  return problems;
}
