import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';
import type { PlatformClient } from './platform-client.ts';
import { strictArgs } from './tool-args.ts';
import { registerScheduleTools } from './schedule-tools.ts';
import { budgetShape, registerUsageTools } from './usage-tools.ts';
import { registerForkTools } from './fork-tools.ts';

const taskId = z.string().uuid().describe('The task_id that orchestrate returned');

/** API answers become tool results; errors stay errors, with the API's code and message. */
function result(res: { status: number; body: Record<string, unknown> }): CallToolResult {
  if (res.status >= 400) {
    return {
      isError: true,
      content: [{ type: 'text', text: `${String(res.body.code ?? res.status)}: ${String(res.body.message ?? 'request failed')}` }],
    };
  }
  return { content: [{ type: 'text', text: JSON.stringify(res.body, null, 2) }], structuredContent: res.body };
}

export function registerTools(server: McpServer, platform: PlatformClient): void {
  server.registerTool(
    'orchestrate',
    {
      title: 'Run a workflow',
      description:
        "Plan a task description into steps for the platform's agents (or take an explicit plan) and run it. Returns the task_id and plan; with wait=true, the finished results. Pass idempotency_key (or task_id) to make a retried call safe: it returns the same task instead of starting a second one.",
      inputSchema: strictArgs(
        {
          description: z
            .string()
            .min(1)
            .optional()
            .describe('What to do, e.g. "build feature X and deploy infrastructure Y then document it"'),
          plan: z
            .object({ steps: z.array(z.record(z.string(), z.unknown())) })
            .optional()
            .describe('Explicit steps: {id, agent, input, depends_on}'),
          input: z.record(z.string(), z.unknown()).optional().describe('Given to every planned step, e.g. {files: [{path, content}]}'),
          wait: z.boolean().optional().describe('Wait for the workflow to finish'),
          task_id: z
            .string()
            .uuid()
            .optional()
            .describe('Your choice of task id: calling again with the same id and arguments returns the same task'),
          idempotency_key: z
            .string()
            .min(1)
            .max(255)
            .optional()
            .describe('Calling again with the same key and arguments returns the task the first call made instead of starting another'),
          delay: z.string().max(32).optional().describe('Start later, after this long ("90s", "5m", "2h", "1d"): the task is scheduled'),
          run_at: z.string().max(64).optional().describe('Start at this time (ISO 8601 with a zone, e.g. 2026-12-24T18:00:00Z)'),
          concurrency: strictArgs(
            {
              key: z.string(),
              limit: z.number().int(),
              strategy: z.enum(['queue', 'cancel_newest', 'cancel_in_progress']).optional(),
            },
            { field: true },
          )
            .optional()
            .describe('At most `limit` runs of the key at once, e.g. {key: "input.repo", limit: 1}; over it the task waits queued'),
          rate_limit: strictArgs({ key: z.string().optional(), limit: z.number().int(), period: z.string() }, { field: true })
            .optional()
            .describe(
              'At most `limit` starts of the key per period, e.g. {key: "input.tenant", limit: 60, period: "1m"}; over it the start is delayed',
            ),
          priority: z
            .number()
            .int()
            .min(1)
            .max(5)
            .optional()
            .describe('1-5 (default 3): higher goes first among queued tasks of the same key'),
          budget: strictArgs(budgetShape, { field: true })
            .optional()
            .describe(
              'What the run may spend on models, e.g. {usd: 5} or {tokens: 200000, on_budget: "wait"}; reached, nothing more is dispatched',
            ),
        },
        { tool: 'orchestrate' },
      ),
    },
    async ({ idempotency_key, ...body }) =>
      result(
        await platform.call(
          'orchestrator',
          'POST',
          '/orchestrate',
          body,
          idempotency_key ? { 'idempotency-key': idempotency_key } : undefined,
        ),
      ),
  );

  server.registerTool(
    'get_task',
    {
      title: 'Get a task',
      description: 'Status of a task: each step with its attempts, timings and output, and the checkpoint.',
      inputSchema: strictArgs({ task_id: taskId }, { tool: 'get_task' }),
    },
    async ({ task_id }) => result(await platform.call('orchestrator', 'GET', `/tasks/${task_id}`)),
  );

  server.registerTool(
    'list_tasks',
    {
      title: 'List tasks',
      description:
        'Tasks, newest first, each with its status, error, timings and the schedule that started it; by status, a text in the description or a schedule name. Follow next_cursor for more.',
      inputSchema: strictArgs(
        {
          status: z.enum(['planned', 'scheduled', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled']).optional(),
          search: z.string().min(1).max(200).optional(),
          schedule: z.string().min(1).max(63).optional(),
          limit: z.number().int().min(1).max(200).optional(),
          cursor: z.string().min(1).max(200).optional(),
        },
        { tool: 'list_tasks' },
      ),
    },
    async ({ status, search, schedule, limit, cursor }) => {
      const query = new URLSearchParams({ limit: String(limit ?? 20) });
      if (status) query.set('status', status);
      if (search) query.set('q', search);
      if (schedule) query.set('schedule', schedule);
      if (cursor) query.set('cursor', cursor);
      return result(await platform.call('orchestrator', 'GET', `/tasks?${query.toString()}`));
    },
  );

  server.registerTool(
    'resume_task',
    {
      title: 'Resume a task',
      description: 'Resume a failed or orphaned task from its last checkpoint; finished steps are not run again.',
      inputSchema: strictArgs({ task_id: taskId }, { tool: 'resume_task' }),
    },
    async ({ task_id }) => result(await platform.call('orchestrator', 'POST', `/resume/${task_id}`, {})),
  );

  server.registerTool(
    'cancel_task',
    {
      title: 'Cancel a task',
      description: 'Cancel a planned or running task.',
      inputSchema: strictArgs({ task_id: taskId, reason: z.string().max(1000).optional() }, { tool: 'cancel_task' }),
    },
    async ({ task_id, reason }) =>
      result(await platform.call('orchestrator', 'POST', `/tasks/${task_id}/cancel`, reason ? { reason } : {})),
  );

  // A person's answer to an approval step, as `agentic-mesh approve|reject` gives it.
  for (const [tool, verb, title] of [
    ['approve_task', 'approve', 'Approve a waiting step'],
    ['reject_task', 'reject', 'Reject a waiting step'],
  ] as const) {
    server.registerTool(
      tool,
      {
        title,
        description: `${verb === 'approve' ? 'Approve' : 'Reject'} the approval step a task waits at (get_task shows it: status waiting, the step's prompt); the answer drives the step's branch (${verb === 'approve' ? 'on_approval' : 'on_rejection'}: fail the task, send work back, or route to a step); ${verb === 'approve' ? 'without one, the steps after it run' : 'without one, the step fails with APPROVAL_REJECTED and the steps it gates do not run'}. Pass step_id only when several steps wait.`,
        inputSchema: strictArgs(
          {
            task_id: taskId,
            comment: z.string().max(4000).optional().describe('Why; stored with the answer and given to the steps after it'),
            step_id: z.string().min(1).max(64).optional().describe('Which waiting step, when several wait'),
          },
          { tool },
        ),
      },
      async ({ task_id, comment, step_id }) =>
        result(
          await platform.call('orchestrator', 'POST', `/tasks/${task_id}/${verb}`, {
            ...(comment !== undefined ? { comment } : {}),
            ...(step_id !== undefined ? { step_id } : {}),
          }),
        ),
    );
  }

  server.registerTool(
    'list_agents',
    {
      title: 'List agents',
      description: 'The agents the platform knows, whether they are up, and the capabilities each declares.',
      inputSchema: strictArgs({}, { tool: 'list_agents' }),
    },
    async () => result(await platform.call('orchestrator', 'GET', '/agents')),
  );

  registerScheduleTools(server, platform, result);
  registerUsageTools(server, platform, result);
  registerForkTools(server, platform, result);

  server.registerTool(
    'search_knowledge',
    {
      title: 'Search the knowledge base',
      description: "Ranked passages from the indexed documents (the platform's own docs and whatever was added).",
      inputSchema: strictArgs(
        { query: z.string().min(1).max(500), limit: z.number().int().min(1).max(50).optional() },
        { tool: 'search_knowledge' },
      ),
    },
    async ({ query, limit }) =>
      result(await platform.call('knowledge', 'GET', `/search?q=${encodeURIComponent(query)}&limit=${limit ?? 5}`)),
  );
}
