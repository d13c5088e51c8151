import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from 'typebox';
import { AppError } from '../../services/errors/index.ts';
import { defineAgent, TaskFailedError, type AgentDefinition } from '../../agents/sdk/index.ts';

/** Every handler run, in order: tests check what ran, how often and when. */
export interface RunLog {
  runs: Array<{ agent: string; key: string; step: string; start: number; end?: number }>;
}

/**
 * Small real agents for engine tests: they compute on their input (sum, wait, fail on request),
 * so a test can tell from the output which inputs and dependency outputs reached them.
 */
export function testAgents(log: RunLog = { runs: [] }): { log: RunLog; agents: AgentDefinition[] } {
  const record = <T>(agent: string, key: string, step: string, fn: () => Promise<T>): Promise<T> => {
    const entry: { agent: string; key: string; step: string; start: number; end?: number } = { agent, key, step, start: performance.now() };
    log.runs.push(entry);
    return fn().finally(() => (entry.end = performance.now()));
  };
  const sumOf = (input: Record<string, unknown>, deps: Record<string, unknown>) => {
    const own = Array.isArray(input.values) ? (input.values as number[]) : [];
    const upstream = Object.values(deps).map((d) => Number((d as { sum?: number } | null)?.sum ?? 0));
    return [...own, ...upstream].reduce((a, b) => a + b, 0);
  };
  const agents = [
    defineAgent({
      name: 'math',
      description: 'adds numbers',
      capabilities: ['add numbers', 'sum values'],
      inputSchema: Type.Object({ values: Type.Optional(Type.Array(Type.Number())), ms: Type.Optional(Type.Integer({ minimum: 0 })) }),
      execute: (input: { values?: number[]; ms?: number }, ctx) =>
        record('math', ctx.idempotencyKey, ctx.stepId, async () => {
          if (input.ms) await sleep(input.ms, undefined, { signal: ctx.signal });
          return { sum: sumOf(input, ctx.dependencies), from: Object.keys(ctx.dependencies).sort() };
        }),
    }),
    defineAgent({
      name: 'flaky',
      description: 'fails the first attempts of a step, then succeeds',
      capabilities: ['flaky work'],
      execute: (input: { fail_attempts?: number; retryable?: boolean }, ctx) =>
        record('flaky', ctx.idempotencyKey, ctx.stepId, async () => {
          if (ctx.attempt <= (input.fail_attempts ?? 1)) {
            if (input.retryable === false) throw new TaskFailedError(`attempt ${ctx.attempt} refused`);
            throw new AppError('AGENT_ERROR', `attempt ${ctx.attempt} failed`);
          }
          return { attempt: ctx.attempt };
        }),
    }),
    defineAgent({
      name: 'writer',
      description: 'writes a draft with some flaws; each revision fixes one',
      capabilities: ['write drafts'],
      execute: (input: { flaws?: number; feedback?: unknown; previous_output?: { flaws?: number } | null }, ctx) =>
        record('writer', ctx.idempotencyKey, ctx.stepId, async () => {
          const flaws = input.feedback && input.previous_output ? Math.max(0, (input.previous_output.flaws ?? 0) - 1) : (input.flaws ?? 0);
          return { flaws, revised: Boolean(input.feedback) };
        }),
    }),
    defineAgent({
      name: 'reviewer',
      description: 'approves a draft without flaws',
      capabilities: ['review drafts'],
      execute: (_input: Record<string, unknown>, ctx) =>
        record('reviewer', ctx.idempotencyKey, ctx.stepId, async () => {
          const flaws = Object.values(ctx.dependencies).reduce<number>(
            (n, d) => n + Number((d as { flaws?: number } | null)?.flaws ?? 0),
            0,
          );
          return { decision: flaws === 0 ? 'approved' : 'rejected', flaws, summary: `${flaws} flaw(s)` };
        }),
    }),
  ];
  return { log, agents };
}
