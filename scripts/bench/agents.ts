import { setTimeout as sleep } from 'node:timers/promises';
import { defineAgent } from '../../agents/sdk/index.ts';

/** Answers at once with a value computed from its input and its dependencies' outputs. */
export const stepAgent = defineAgent({
  name: 'bench-step',
  description: 'adds its input to the values of its dependencies',
  capabilities: ['bench step'],
  async execute(input: { n?: number }, ctx) {
    const upstream = Object.values(ctx.dependencies).reduce<number>((acc, d) => acc + Number((d as { n?: number } | null)?.n ?? 0), 0);
    return { n: (input.n ?? 1) + upstream };
  },
});

/** Takes `ms` milliseconds, like an agent waiting on a model. */
export const sleepAgent = defineAgent({
  name: 'bench-sleep',
  description: 'waits the given time',
  capabilities: ['bench sleep'],
  async execute(input: { ms?: number }, ctx) {
    await sleep(input.ms ?? 200, undefined, { signal: ctx.signal });
    return { waited_ms: input.ms ?? 200 };
  },
});
