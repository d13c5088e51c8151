import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.ts';
import { api, ApiError, followEvents, jsonFile, submit, useApiKey } from './client.ts';
import { ProgressDisplay } from './progress.ts';
import { runsCommand, runsUsage } from './runs.ts';
import { schedulesCommand, schedulesUsage } from './schedules.ts';
import { budgetCommand, budgetFlags, planningLine, stepUsage, usageCommand, usageLine, usageUsage } from './usage.ts';
import { compareCommand, forkCommand, forksUsage } from './forks.ts';
import type { Running } from './roles.ts';

const usage = (agents: string) => `agentic-mesh — durable workflows of AI agents

Run the platform:
  agentic-mesh start                  everything in one process: orchestrator, agents, knowledge, MCP
  agentic-mesh orchestrator           the orchestrator alone (port 8001)
  agentic-mesh knowledge              the knowledge service alone (port 8007)
  agentic-mesh mcp-gateway            the MCP gateway alone (port 8000; ORCHESTRATOR_URL, KNOWLEDGE_URL)
  agentic-mesh agent <name>           one agent (${agents})
  agentic-mesh agents                 all five agents in one process

Use it (ORCHESTRATOR_URL or --url, default http://127.0.0.1:8001):
  agentic-mesh run "<description>"    plan, run and follow with live progress
      [--plan plan.json | --workflow <name>] [--input input.json] [--detach]
      [--idempotency-key <key>] [--task-id <uuid>]   run it again with the same key
                                      (or id) and get the same task, not a second one
      [--delay 5m | --at 2026-12-24T18:00:00Z]        start it later (scheduled)
      [--budget-usd 5] [--budget-tokens 200000] [--on-budget fail|wait]
                                      stop dispatching once the run has spent that much
      [--concurrency input.repo:1[:queue|cancel_newest|cancel_in_progress]]
                                      at most so many runs of the key at once (queued)
      [--rate-limit [input.tenant:]60/1m]  at most so many starts per period (delayed)
      [--priority 1-5]                higher goes first among queued runs of a key
${runsUsage}
  agentic-mesh status <task_id>       steps, attempts and timings
  agentic-mesh resume <task_id>       resume from the last checkpoint, and follow
  agentic-mesh cancel <task_id>
  agentic-mesh approve <task_id>      answer a waiting approval step [--comment text] [--step id]
  agentic-mesh reject <task_id>       [--comment text] [--step id]
${usageUsage}
${forksUsage}

Schedules (a cron expression that starts a workflow on each tick):
${schedulesUsage}

Configuration is read from the environment; see docs/CONFIGURATION.md.`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      plan: { type: 'string' },
      input: { type: 'string' },
      workflow: { type: 'string' },
      comment: { type: 'string' },
      step: { type: 'string' },
      'idempotency-key': { type: 'string' },
      'task-id': { type: 'string' },
      delay: { type: 'string' },
      at: { type: 'string' },
      to: { type: 'string' },
      'group-by': { type: 'string' },
      'budget-usd': { type: 'string' },
      'budget-tokens': { type: 'string' },
      'on-budget': { type: 'string' },
      concurrency: { type: 'string' },
      'rate-limit': { type: 'string' },
      priority: { type: 'string' },
      from: { type: 'string' },
      'input-patch': { type: 'string' },
      'plan-patch': { type: 'string' },
      cron: { type: 'string' },
      timezone: { type: 'string' },
      description: { type: 'string' },
      overlap: { type: 'string' },
      'catch-up': { type: 'string' },
      status: { type: 'string' },
      search: { type: 'string' },
      schedule: { type: 'string' },
      limit: { type: 'string' },
      paused: { type: 'boolean', default: false },
      detach: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command || command === 'help') {
    process.stdout.write(`${await usageText()}\n`);
    return command || values.help ? 0 : 1;
  }
  const config = loadConfig();
  // ORCHESTRATOR_URL is checked with the rest of the configuration; a flag without its scheme would
  // fail as "cannot reach the orchestrator", which sends people looking for a server that is up.
  if (values.url !== undefined && !/^https?:\/\//.test(values.url))
    throw new Error(`--url "${values.url}" is not an http(s) URL: did you mean http://${values.url}?`);
  const url = (values.url ?? config.orchestratorUrl).replace(/\/+$/, '');
  useApiKey(config.apiKey);

  // A role's code is loaded only by the process that runs it (tests/unit/role-imports.test.ts).
  const roles = () => import('./roles.ts');
  switch (command) {
    case 'start':
      return serve(async () => (await roles()).runAll(config), config.shutdownGraceMs);
    case 'orchestrator':
      return serve(async () => (await roles()).runOrchestrator(config), config.shutdownGraceMs);
    case 'mcp-gateway':
      return serve(async () => (await roles()).runMcpGateway(config), config.shutdownGraceMs);
    case 'knowledge':
      return serve(async () => (await roles()).runKnowledge(config), config.shutdownGraceMs);
    case 'agents':
      return serve(async () => (await roles()).runAgents(await agentNames(), config), config.shutdownGraceMs);
    case 'agent': {
      if (rest.length === 0) throw new Error(`name the agent: agentic-mesh agent <${(await agentNames()).join('|')}>`);
      return serve(async () => (await roles()).runAgents(rest, config), config.shutdownGraceMs);
    }
    case 'run': {
      const description = rest.join(' ').trim();
      const body: Record<string, unknown> = {};
      if (description) body.description = description;
      if (values.plan) body.plan = await jsonFile('plan', values.plan);
      if (values.workflow) body.workflow = values.workflow;
      if (values.input) body.input = await jsonFile('input', values.input);
      if (!body.description && !body.plan && !body.workflow)
        throw new Error('give a description: agentic-mesh run "build feature X and deploy infrastructure Y"');
      if (values['task-id']) body.task_id = values['task-id'];
      if (values.delay) body.delay = values.delay;
      if (values.at) body.run_at = values.at;
      const budget = budgetFlags(values);
      if (Object.keys(budget).length > 0) body.budget = budget;
      Object.assign(body, flowFlags(values));
      // Every run has a key, so the CLI's own retries (orchestrator unreachable, 502-504) never start a second workflow.
      const { body: submitted, replayed } = await submit(url, body, values['idempotency-key'] ?? randomUUID());
      const taskId = String(submitted.task_id);
      process.stdout.write(`task ${taskId} ${replayed ? 'was already submitted with this key' : 'submitted'} (${url}/tasks/${taskId})\n`);
      if (submitted.status === 'scheduled') {
        // Nothing to follow until it starts: say when, and how to look.
        process.stdout.write(`scheduled to start at ${String(submitted.run_at)}: agentic-mesh status ${taskId}, or cancel ${taskId}\n`);
        return 0;
      }
      if (values.detach) return 0;
      return follow(url, taskId, submitted.plan as { steps: Array<{ id: string; agent: string }> });
    }
    case 'status': {
      const task = await api(url, 'GET', `/tasks/${need(rest[0], 'task_id')}`);
      printStatus(task);
      return task.status === 'failed' ? 1 : 0;
    }
    case 'resume': {
      const id = need(rest[0], 'task_id');
      await api(url, 'POST', `/resume/${id}`);
      const task = await api(url, 'GET', `/tasks/${id}`);
      process.stdout.write(`task ${id} resumed\n`);
      if (values.detach) return 0;
      return follow(url, id, task.plan as { steps: Array<{ id: string; agent: string }> });
    }
    case 'approve':
    case 'reject': {
      const id = need(rest[0], 'task_id');
      const answer: Record<string, string> = {};
      if (values.comment) answer.comment = values.comment;
      if (values.step) answer.step_id = values.step;
      const res = await api(url, 'POST', `/tasks/${id}/${command}`, answer);
      process.stdout.write(`task ${id}: step ${String(res.step_id)} ${String(res.decision)}\n`);
      return 0;
    }
    case 'runs':
      return runsCommand(url, values);
    case 'schedules':
      return schedulesCommand(url, rest, values);
    case 'usage':
      return usageCommand(url, values);
    case 'budget':
      return budgetCommand(url, rest[0], values);
    case 'fork':
      return forkCommand(url, rest[0], values);
    case 'compare':
      return compareCommand(url, rest[0], rest[1]);
    case 'cancel': {
      const res = await api(url, 'POST', `/tasks/${need(rest[0], 'task_id')}/cancel`, {});
      process.stdout.write(`task ${String(res.task_id)} ${String(res.status)}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${await usageText()}\n`);
      return 1;
  }
}

async function agentNames(): Promise<string[]> {
  return [...(await import('../../agents/index.ts')).builtInAgentNames];
}

async function usageText(): Promise<string> {
  return usage((await agentNames()).join(', '));
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new Error(`missing ${what}`);
  return value;
}

async function follow(url: string, taskId: string, plan: { steps: Array<{ id: string; agent: string }> }): Promise<number> {
  const display = new ProgressDisplay(plan);
  for await (const event of followEvents(url, taskId)) display.apply(event);
  const task = await api(url, 'GET', `/tasks/${taskId}`);
  printStatus(task);
  return task.status === 'succeeded' ? 0 : 1;
}

function printStatus(task: Record<string, unknown>): void {
  const steps = (task.steps ?? []) as Array<{
    id: string;
    agent: string;
    status: string;
    attempts: Array<{ attempt: number; duration_ms: number | null; error: { message: string } | null }>;
    output: Record<string, unknown> | null;
    usage?: Parameters<typeof stepUsage>[0];
  }>;
  const lines = [`task ${String(task.task_id)}: ${String(task.status)}`];
  if (task.description) lines.push(`  "${String(task.description)}"`);
  const schedule = task.schedule as { name: string; tick: string | null; caught_up: boolean } | null | undefined;
  if (schedule)
    lines.push(
      `  started by schedule ${schedule.name}${schedule.tick ? ` for its ${schedule.tick} tick${schedule.caught_up ? ' (caught up)' : ''}` : ', run by hand (trigger)'}`,
    );
  lines.push(...planningLine(task.planning_usage as Parameters<typeof planningLine>[0]));
  for (const s of steps) {
    const last = s.attempts.at(-1);
    const timing = last?.duration_ms != null ? ` ${last.duration_ms} ms` : '';
    const summary = typeof s.output?.summary === 'string' ? ` — ${s.output.summary}` : '';
    const error = last?.error ? ` — ${last.error.message}` : '';
    lines.push(`  ${s.id} (${s.agent}): ${s.status}, ${s.attempts.length} attempt(s)${timing}${stepUsage(s.usage)}${summary}${error}`);
  }
  lines.push(...usageLine(task.usage as Parameters<typeof usageLine>[0]));
  const err = task.error as { message?: string } | null;
  if (err?.message) lines.push(`  error: ${err.message}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Starts a server role and keeps it up until SIGINT/SIGTERM, then closes it gracefully. The
 * handlers go in before the role starts: a signal that arrives while it is starting (its port may
 * already be listening) is a shutdown once the start is done, never Node's default exit, which
 * would skip the close.
 */
function serve(start: () => Promise<Running>, graceMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const starting = start();
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`agentic-mesh: ${signal}, shutting down\n`);
      const force = setTimeout(() => resolve(1), graceMs + 5_000);
      force.unref();
      void starting
        .then((running) => running.close())
        .then(
          () => resolve(0),
          () => resolve(1),
        );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    starting.catch(reject);
  });
}

export function reportError(err: unknown): number {
  if (err instanceof ApiError) process.stderr.write(`error: ${err.message}\n`);
  else process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

/**
 * --concurrency key:limit[:strategy], --rate-limit [key:]limit/period and --priority as the API's
 * fields; the orchestrator checks them and names what is wrong.
 */
function flowFlags(values: { concurrency?: string | undefined; 'rate-limit'?: string | undefined; priority?: string | undefined }) {
  const body: Record<string, unknown> = {};
  if (values.concurrency) {
    const m = /^(.+?):(\d+)(?::(\w+))?$/.exec(values.concurrency);
    if (!m) throw new Error(`--concurrency "${values.concurrency}" is not key:limit[:strategy] (e.g. input.repo:1)`);
    body.concurrency = { key: m[1], limit: Number(m[2]), ...(m[3] ? { strategy: m[3] } : {}) };
  }
  if (values['rate-limit']) {
    const m = /^(?:(.+):)?(\d+)\/(\S+)$/.exec(values['rate-limit']);
    if (!m) throw new Error(`--rate-limit "${values['rate-limit']}" is not [key:]limit/period (e.g. input.tenant:60/1m)`);
    body.rate_limit = { ...(m[1] ? { key: m[1] } : {}), limit: Number(m[2]), period: m[3] };
  }
  if (values.priority) body.priority = Number(values.priority);
  return body;
}
