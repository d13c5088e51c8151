import { addUsage, type Usage } from '../../protocol/index.ts';

/** What some attempts spent: in all, and per model. */
export interface UsageTotal {
  prompt_tokens: number;
  completion_tokens: number;
  tokens: number;
  calls: number;
  /** USD of the priced part; with unpriced_models it is a lower bound, never a guess at the rest. */
  cost_usd: number;
  /** Models whose cost is unknown (no price in PRICES_FILE, none from the provider). */
  unpriced_models: string[];
  by_model: Usage;
}

/** The sum of the attempts' usage (null: an attempt that called no model). */
export function usageTotal(usages: ReadonlyArray<Usage | null | undefined>): UsageTotal {
  let byModel: Usage = [];
  for (const usage of usages) for (const u of usage ?? []) byModel = addUsage(byModel, { ...u, cost_usd: u.cost_usd ?? null });
  const prompt = byModel.reduce((n, u) => n + u.prompt_tokens, 0);
  const completion = byModel.reduce((n, u) => n + u.completion_tokens, 0);
  const cost = byModel.reduce((n, u) => n + (u.cost_usd ?? 0), 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    tokens: prompt + completion,
    calls: byModel.reduce((n, u) => n + u.calls, 0),
    cost_usd: Math.round(cost * 1e9) / 1e9,
    unpriced_models: byModel.filter((u) => u.cost_usd === null).map((u) => u.model),
    by_model: byModel,
  };
}
