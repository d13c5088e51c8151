import { Type, type Static } from 'typebox';
import Value from 'typebox/value';

/**
 * What one model was asked for in a step attempt, summed over its calls: the tokens its provider
 * reported (the OpenAI-compatible `usage` field) and, when the provider says, what it cost. An
 * answer carries one entry per model.
 */
export const ModelUsage = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 200 }),
  prompt_tokens: Type.Integer({ minimum: 0 }),
  completion_tokens: Type.Integer({ minimum: 0 }),
  calls: Type.Integer({ minimum: 0 }),
  /** null: the cost is unknown (no price for the model), never a guess. */
  cost_usd: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
});
export type ModelUsage = Static<typeof ModelUsage>;

export const Usage = Type.Array(ModelUsage, { maxItems: 100 });
export type Usage = Static<typeof Usage>;

/** Adds `entry` to the model's line in `usage` (a new line for a new model); costs add up only while every part is known. */
export function addUsage(usage: Usage, entry: ModelUsage): Usage {
  const i = usage.findIndex((u) => u.model === entry.model);
  if (i < 0) return [...usage, { ...entry }];
  const u = usage[i];
  const cost =
    u.cost_usd === undefined && entry.cost_usd === undefined
      ? {}
      : { cost_usd: typeof u.cost_usd === 'number' && typeof entry.cost_usd === 'number' ? u.cost_usd + entry.cost_usd : null };
  const merged: ModelUsage = {
    model: u.model,
    prompt_tokens: u.prompt_tokens + entry.prompt_tokens,
    completion_tokens: u.completion_tokens + entry.completion_tokens,
    calls: u.calls + entry.calls,
    ...cost,
  };
  return usage.map((x, j) => (j === i ? merged : x));
}

// What an answer may carry: an agent not built on the SDK may leave out `calls` (one call, then).
const Reported = Type.Array(Type.Object({ ...ModelUsage.properties, calls: Type.Optional(ModelUsage.properties.calls) }), {
  maxItems: 100,
});

/** The usage an answer carries, or none: an agent's figures are read only when they have the shape. */
export function usageFrom(value: unknown): Usage | undefined {
  if (!Array.isArray(value) || value.length === 0 || !Value.Check(Reported, value)) return undefined;
  return value.map((u) => ({ ...u, calls: u.calls ?? 1 }));
}
