import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';
import type { PlatformClient } from './platform-client.ts';
import { strictArgs } from './tool-args.ts';
import { budgetShape } from './usage-tools.ts';

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/)
  .describe('The schedule name');

/** The schedule tools: the orchestrator's /schedules API (docs/API.md#schedules). */
export function registerScheduleTools(
  server: McpServer,
  platform: PlatformClient,
  result: (res: { status: number; body: Record<string, unknown> }) => CallToolResult,
): void {
  const at = (n: string) => `/schedules/${encodeURIComponent(n)}`;
  server.registerTool(
    'list_schedules',
    {
      title: 'List schedules',
      description: 'Every schedule: its cron and time zone, what it runs, next_run_at, the last run with its status, and the last outcome.',
      inputSchema: strictArgs({}, { tool: 'list_schedules' }),
    },
    async () => result(await platform.call('orchestrator', 'GET', '/schedules')),
  );
  server.registerTool(
    'get_schedule',
    {
      title: 'Get a schedule',
      description: 'One schedule: next run, last run and its outcome.',
      inputSchema: strictArgs({ name }, { tool: 'get_schedule' }),
    },
    async (a) => result(await platform.call('orchestrator', 'GET', at(a.name))),
  );
  server.registerTool(
    'create_schedule',
    {
      title: 'Create a schedule',
      description:
        'Start a workflow on each tick of a cron expression (5 fields, or 6 with seconds first), exactly once per tick however many orchestrators run. Give one of workflow, plan or description.',
      inputSchema: strictArgs(
        {
          name,
          cron: z.string().min(1).max(200).describe('e.g. "0 2 * * *" (02:00 daily) or "*/30 * * * * *" (every 30 s)'),
          timezone: z
            .string()
            .min(1)
            .max(64)
            .optional()
            .describe('IANA time zone the cron is read in, e.g. "Europe/Paris"; UTC by default'),
          workflow: z.string().min(1).max(64).optional().describe('A named workflow to run'),
          plan: z
            .object({ steps: z.array(z.record(z.string(), z.unknown())) })
            .optional()
            .describe('Explicit steps: {id, agent, input, depends_on}'),
          description: z.string().min(1).max(10_000).optional().describe('Text planned into steps on each tick'),
          input: z.record(z.string(), z.unknown()).optional().describe('The input of each run'),
          overlap: z
            .enum(['skip', 'queue', 'allow'])
            .optional()
            .describe('A tick while the previous run goes on: skip (default), queue, allow'),
          catch_up: z.enum(['none', 'latest', 'all']).optional().describe('Ticks missed while nothing ran: none, latest (default), all'),
          enabled: z.boolean().optional().describe('false: create it paused'),
          budget: strictArgs(budgetShape, { field: true })
            .optional()
            .describe("What each run may spend on models, e.g. {usd: 1}; by default the named workflow's, else the calling key's"),
        },
        { tool: 'create_schedule' },
      ),
    },
    async (body) => result(await platform.call('orchestrator', 'POST', '/schedules', body)),
  );
  server.registerTool(
    'pause_schedule',
    {
      title: 'Pause a schedule',
      description: 'No ticks until it is resumed.',
      inputSchema: strictArgs({ name }, { tool: 'pause_schedule' }),
    },
    async (a) => result(await platform.call('orchestrator', 'PATCH', at(a.name), { enabled: false })),
  );
  server.registerTool(
    'resume_schedule',
    {
      title: 'Resume a schedule',
      description: 'Ticks again from the next one after now (ticks while paused are not run).',
      inputSchema: strictArgs({ name }, { tool: 'resume_schedule' }),
    },
    async (a) => result(await platform.call('orchestrator', 'PATCH', at(a.name), { enabled: true })),
  );
  server.registerTool(
    'trigger_schedule',
    {
      title: 'Run a schedule now',
      description: "Start a run of the schedule's workflow now; returns its task_id.",
      inputSchema: strictArgs({ name }, { tool: 'trigger_schedule' }),
    },
    async (a) => result(await platform.call('orchestrator', 'POST', `${at(a.name)}/trigger`, {})),
  );
  server.registerTool(
    'delete_schedule',
    {
      title: 'Delete a schedule',
      description: 'The schedule goes; the runs it started stay.',
      inputSchema: strictArgs({ name }, { tool: 'delete_schedule' }),
    },
    async (a) => result(await platform.call('orchestrator', 'DELETE', at(a.name))),
  );
}
