import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';
import type { PlatformClient } from './platform-client.ts';
import { strictArgs } from './tool-args.ts';

/** What a run may spend: the orchestrate tool's `budget` and set_budget's arguments (docs/API.md#usage-and-budgets). */
export const budgetShape = {
  usd: z.number().positive().optional().describe('US dollars the run may spend on models (priced models only)'),
  tokens: z.number().int().positive().optional().describe('Prompt + completion tokens the run may use'),
  on_budget: z
    .enum(['fail', 'wait'])
    .optional()
    .describe('fail (default): the run ends BUDGET_EXCEEDED when it is spent; wait: it waits for set_budget to raise it'),
};

/** The ledger's tools: the orchestrator's GET /usage and POST /tasks/:id/budget. */
export function registerUsageTools(
  server: McpServer,
  platform: PlatformClient,
  result: (res: { status: number; body: Record<string, unknown> }) => CallToolResult,
): void {
  server.registerTool(
    'get_usage',
    {
      title: 'Model usage and cost',
      description:
        'Tokens and USD that step attempts spent on models between from and to, grouped by workflow (each run), agent, model or api_key, with a total. A model without a price counts tokens and its calls show as unpriced (cost unknown, not zero).',
      inputSchema: strictArgs(
        {
          from: z.string().max(64).optional().describe('ISO 8601 date or time with a zone, inclusive (default: 30 days before to)'),
          to: z.string().max(64).optional().describe('ISO 8601 date or time with a zone, exclusive (default: now)'),
          group_by: z.enum(['workflow', 'agent', 'model', 'api_key']).optional().describe('How to group (default model)'),
        },
        { tool: 'get_usage' },
      ),
    },
    async (a) => {
      const query = new URLSearchParams(Object.entries(a).filter((e): e is [string, string] => typeof e[1] === 'string'));
      return result(await platform.call('orchestrator', 'GET', `/usage?${query.toString()}`));
    },
  );
  server.registerTool(
    'set_budget',
    {
      title: "Set a task's budget",
      description:
        "Set or raise a task's budget (fields not given keep their value). A task waiting at its budget (on_budget: wait) goes on at once if the new one allows; a task that failed BUDGET_EXCEEDED goes on with resume_task.",
      inputSchema: strictArgs(
        { task_id: z.string().uuid().describe('The task_id that orchestrate returned'), ...budgetShape },
        { tool: 'set_budget' },
      ),
    },
    async ({ task_id, ...budget }) =>
      result(await platform.call('orchestrator', 'POST', `/tasks/${encodeURIComponent(task_id)}/budget`, budget)),
  );
}
