import { describe, expect, it } from 'vitest';
import { addUsage, usageFrom } from '../../../services/protocol/index.ts';

describe('usage in an agent answer', () => {
  it('is read only with its shape; calls left out count as one call', () => {
    expect(usageFrom([{ model: 'm', prompt_tokens: 3, completion_tokens: 1 }])).toEqual([
      { model: 'm', prompt_tokens: 3, completion_tokens: 1, calls: 1 },
    ]);
    expect(usageFrom([{ model: 'm', prompt_tokens: 3, completion_tokens: 1, calls: 2, cost_usd: null }])).toEqual([
      { model: 'm', prompt_tokens: 3, completion_tokens: 1, calls: 2, cost_usd: null },
    ]);
    for (const bad of [
      [],
      {},
      'lots',
      [{ model: 'm', prompt_tokens: -1, completion_tokens: 0 }],
      [{ prompt_tokens: 1, completion_tokens: 1 }],
    ])
      expect(usageFrom(bad), JSON.stringify(bad)).toBeUndefined();
  });

  it('adds up per model; a cost stays known only while every part of it is', () => {
    const a = { model: 'm', prompt_tokens: 3, completion_tokens: 1, calls: 1, cost_usd: 0.25 };
    const known = addUsage([a], { ...a, cost_usd: 0.5 });
    expect(known).toEqual([{ model: 'm', prompt_tokens: 6, completion_tokens: 2, calls: 2, cost_usd: 0.75 }]);
    expect(addUsage(known, { ...a, cost_usd: null })[0]!.cost_usd).toBeNull();
    expect(addUsage(known, { ...a, model: 'n' }).map((u) => u.model)).toEqual(['m', 'n']);
    // Neither side priced (the SDK's sum before the orchestrator prices it): no cost field at all.
    const { cost_usd: _, ...bare } = a;
    expect(addUsage([bare], bare)).toEqual([{ model: 'm', prompt_tokens: 6, completion_tokens: 2, calls: 2 }]);
  });
});
