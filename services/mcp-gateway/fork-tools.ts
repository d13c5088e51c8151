import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';
import type { PlatformClient } from './platform-client.ts';
import { strictArgs } from './tool-args.ts';

const taskId = (what: string) => z.string().uuid().describe(what);

/** Fork and compare: POST /tasks/:id/fork and GET /tasks/:a/compare/:b (docs/API.md#forks). */
export function registerForkTools(
  server: McpServer,
  platform: PlatformClient,
  result: (res: { status: number; body: Record<string, unknown> }) => CallToolResult,
): void {
  server.registerTool(
    'fork_task',
    {
      title: 'Fork a task from a step',
      description:
        'Run a finished (succeeded, failed or cancelled) task again from one step: the steps above it keep their results and call no agent, the step and everything downstream run again, optionally with a patched input or plan. Returns the new task_id, which steps were reused and which ran; compare_tasks then shows what changed.',
      inputSchema: strictArgs(
        {
          task_id: taskId('The task to fork'),
          from_step: z.string().min(1).max(64).describe('The step to run again, with everything downstream of it'),
          input_patch: z
            .record(z.string(), z.unknown())
            .optional()
            .describe("A JSON merge patch of from_step's input: keys replace, null removes, e.g. {values: [1000]}"),
          plan_patch: strictArgs({ steps: z.record(z.string(), z.record(z.string(), z.unknown())).optional() }, { field: true })
            .optional()
            .describe(
              'Changes by step id (from_step or downstream): {steps: {<id>: {input?, agent?, timeout_ms?, retry?, ...}}}; input is a merge patch',
            ),
          wait: z.boolean().optional().describe('Wait for the fork to finish'),
          idempotency_key: z
            .string()
            .min(1)
            .max(255)
            .optional()
            .describe('Calling again with the same key and arguments returns the fork the first call made instead of making another'),
        },
        { tool: 'fork_task' },
      ),
    },
    async ({ task_id, idempotency_key, ...body }) =>
      result(
        await platform.call(
          'orchestrator',
          'POST',
          `/tasks/${task_id}/fork`,
          body,
          idempotency_key ? { 'idempotency-key': idempotency_key } : undefined,
        ),
      ),
  );

  server.registerTool(
    'compare_tasks',
    {
      title: 'Compare two tasks',
      description:
        'Two runs step by step (a task and its fork, or any two): which steps were reused, which ran in both and whether their outputs differ (each change with its path, old and new value), and the difference in duration, tokens and cost.',
      inputSchema: strictArgs(
        { task_a: taskId('The first task (e.g. the parent)'), task_b: taskId('The second task (e.g. the fork)') },
        { tool: 'compare_tasks' },
      ),
    },
    async ({ task_a, task_b }) => result(await platform.call('orchestrator', 'GET', `/tasks/${task_a}/compare/${task_b}`)),
  );
}
