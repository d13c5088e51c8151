import { api } from './client.ts';

export const usageUsage = `  agentic-mesh usage [--from 2026-12-01] [--to 2026-12-02T12:00:00Z] [--group-by workflow|agent|model|api_key]
                                      model tokens and cost of the attempts that finished then
                                      (and of planning the runs created then: agent "(planner)")
  agentic-mesh budget <task_id> [--budget-usd 5] [--budget-tokens 200000]
                                      set or raise a run's budget; a run waiting at it goes on
                                      (one that failed BUDGET_EXCEEDED: then agentic-mesh resume)`;

export interface BudgetFlags {
  'budget-usd'?: string | undefined;
  'budget-tokens'?: string | undefined;
  'on-budget'?: string | undefined;
}

interface Total {
  tokens: number;
  prompt_tokens: number;
  completion_tokens: number;
  calls: number;
  cost_usd: number;
  unpriced_models?: string[];
  unpriced_calls?: number;
}

const count = (n: number) => n.toLocaleString('en-US');
/** Dollars to the cent, or to four places below a cent, so small runs do not all read $0.00. */
const dollars = (usd: number) => `$${usd >= 0.01 || usd === 0 ? usd.toFixed(2) : usd.toFixed(4)}`;

/** "1,234 tokens, $0.01" for a step line; empty when it called no model. */
export function stepUsage(usage: Total | undefined): string {
  if (!usage || usage.calls === 0) return '';
  const unknown = usage.unpriced_models?.length ? ' + unknown' : '';
  return `, ${count(usage.tokens)} tokens, ${dollars(usage.cost_usd)}${unknown}`;
}

/** "  planning: 1,500 tokens, $0.0048" when a model planned the run (GET /tasks/:id's planning_usage). */
export function planningLine(
  usage: Array<{ model: string; prompt_tokens: number; completion_tokens: number; cost_usd?: number | null }> | null | undefined,
): string[] {
  if (!usage?.length) return [];
  const tokens = usage.reduce((n, u) => n + u.prompt_tokens + u.completion_tokens, 0);
  const cost = usage.reduce((n, u) => n + (u.cost_usd ?? 0), 0);
  const unknown = usage.some((u) => typeof u.cost_usd !== 'number') ? ' + unknown' : '';
  return [`  planning (${usage.map((u) => u.model).join(', ')}): ${count(tokens)} tokens, ${dollars(cost)}${unknown}`];
}

/** The run's total, as `status` and the end of `run` print it; nothing when no model was called. */
export function usageLine(usage: Total | undefined): string[] {
  if (!usage || usage.calls === 0) return [];
  const unknown = usage.unpriced_models?.length ? ` (cost unknown for ${usage.unpriced_models.join(', ')}: no price)` : '';
  return [
    `  usage: ${count(usage.tokens)} tokens (${count(usage.prompt_tokens)} prompt, ${count(usage.completion_tokens)} completion) in ${count(usage.calls)} model call(s), ${dollars(usage.cost_usd)}${unknown}`,
  ];
}

/** --budget-usd, --budget-tokens and --on-budget as the API's `budget`; the orchestrator checks the values. */
export function budgetFlags(values: BudgetFlags): Record<string, unknown> {
  const budget: Record<string, unknown> = {};
  // Checked here only for being a number (JSON would carry "abc" as null); the orchestrator checks the rest.
  const number = (flag: string, value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`--${flag} "${value}" is not a number`);
    return n;
  };
  if (values['budget-usd'] !== undefined) budget.usd = number('budget-usd', values['budget-usd']);
  if (values['budget-tokens'] !== undefined) budget.tokens = number('budget-tokens', values['budget-tokens']);
  if (values['on-budget'] !== undefined) budget.on_budget = values['on-budget'];
  return budget;
}

/** `agentic-mesh usage`: GET /usage as a table. */
export async function usageCommand(
  url: string,
  flags: { from?: string | undefined; to?: string | undefined; 'group-by'?: string | undefined },
) {
  const query = new URLSearchParams();
  if (flags.from) query.set('from', flags.from);
  if (flags.to) query.set('to', flags.to);
  if (flags['group-by']) query.set('group_by', flags['group-by']);
  const res = (await api(url, 'GET', `/usage?${query.toString()}`)) as {
    from: string;
    to: string;
    group_by: string;
    groups: Array<Total & { key: string | null; description?: string | null }>;
    total: Total;
  };
  const lines = [`usage by ${res.group_by}, ${res.from} to ${res.to}`];
  for (const g of res.groups) {
    const unpriced = g.unpriced_calls ? ` (${g.unpriced_calls} call(s) without a price)` : '';
    const label = g.key ?? '(no API key)';
    lines.push(
      `  ${label}${g.description ? ` "${g.description}"` : ''}: ${count(g.tokens)} tokens in ${count(g.calls)} call(s), ${dollars(g.cost_usd)}${unpriced}`,
    );
  }
  if (res.groups.length === 0) lines.push('  no model calls');
  lines.push(...usageLine(res.total).map((l) => l.replace('  usage:', '  total:')));
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** `agentic-mesh budget <task_id>`: POST /tasks/:id/budget. */
export async function budgetCommand(url: string, taskId: string | undefined, flags: BudgetFlags): Promise<number> {
  if (!taskId) throw new Error('missing task_id: agentic-mesh budget <task_id> --budget-usd 5');
  const budget = budgetFlags(flags);
  if (Object.keys(budget).length === 0) throw new Error('give --budget-usd and/or --budget-tokens');
  const res = await api(url, 'POST', `/tasks/${taskId}/budget`, budget);
  const b = res.budget as { usd?: number; tokens?: number };
  const limits = [b.usd !== undefined ? `$${b.usd}` : '', b.tokens !== undefined ? `${count(b.tokens)} tokens` : ''].filter(Boolean);
  process.stdout.write(`task ${taskId}: budget ${limits.join(' and ')}${res.resumed ? '; it goes on' : ''}\n`);
  return 0;
}
