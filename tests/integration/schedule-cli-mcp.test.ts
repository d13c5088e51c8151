import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildMcpGatewayApp } from '../../services/mcp-gateway/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { poll } from '../helpers/poll.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { runCli } from '../helpers/processes.ts';
import { testAgents } from '../helpers/test-agents.ts';

const plan = { steps: [{ id: 'a', agent: 'math', input: { values: [4, 5] } }] };
const postgres = testDatabases.find((d) => d.name === 'postgres')!;

describe('schedules through the CLI and the MCP tools', () => {
  it('agentic-mesh schedules create|list|get|pause|resume|trigger|delete', { timeout: 120_000 }, async () => {
    const db = await postgres.open();
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents);
    const url = await listenOnLoopback(app);
    const dir = await mkdtemp(join(tmpdir(), 'mesh-schedules-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'plan.json'), JSON.stringify(plan));
    const cli = (...args: string[]) => runCli(['schedules', ...args, '--url', url], { LOG_LEVEL: 'silent' });

    const made = await cli(
      'create',
      'nightly',
      '--cron',
      '0 2 * * *',
      '--timezone',
      'Europe/Paris',
      '--plan',
      join(dir, 'plan.json'),
      '--overlap',
      'queue',
      '--budget-tokens',
      '5000',
    );
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^nightly {2}0 2 \* \* \* \(Europe\/Paris\) {2}plan {2}enabled {2}budget \{"tokens":5000\}/);
    const bad = await cli('create', 'broken', '--cron', '0 25 * * *', '--plan', join(dir, 'plan.json'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/VALIDATION_FAILED: cron "0 25 \* \* \*" is not a valid cron expression/);
    expect((await cli('list')).stdout).toMatch(/^nightly .*\n {2}next \d{4}-/);
    expect((await cli('pause', 'nightly')).stdout).toMatch(/paused {2}budget \{"tokens":5000\}\n {2}next -/);
    expect((await cli('resume', 'nightly')).stdout).toMatch(/enabled/);
    const trigger = await cli('trigger', 'nightly');
    expect(trigger.code, trigger.stderr).toBe(0);
    const taskId = /task (\S+) started/.exec(trigger.stdout)![1]!;
    await poll(async () => (await cli('get', 'nightly')).stdout.includes(`last run ${taskId} succeeded`), {
      timeoutMs: 30_000,
      label: 'the triggered run to show as succeeded',
    });
    const status = await runCli(['status', taskId, '--url', url], { LOG_LEVEL: 'silent' });
    expect(status.stdout).toContain('started by schedule nightly, run by hand (trigger)');
    const runs = await runCli(['runs', '--schedule', 'nightly', '--url', url], { LOG_LEVEL: 'silent' });
    expect(runs.stdout).toMatch(new RegExp(`^${taskId}  succeeded .*\\[schedule nightly\\]$`, 'm'));
    expect(runs.stdout.trim().split('\n')).toHaveLength(1);
    expect((await cli('delete', 'nightly')).stdout).toBe('schedule nightly deleted\n');
    const gone = await cli('get', 'nightly');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/SCHEDULE_NOT_FOUND: no schedule named "nightly"/);
  });

  it('the MCP tools create, list, pause, trigger and delete schedules', { timeout: 120_000 }, async () => {
    const db = await postgres.open();
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents);
    const mcp = buildMcpGatewayApp({ orchestratorUrl: await listenOnLoopback(app), knowledgeUrl: undefined, logLevel: 'silent' });
    onTestFinished(() => mcp.close());
    const client = new Client({ name: 'schedules-check', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${await listenOnLoopback(mcp)}/mcp`)));
    onTestFinished(() => client.close());
    const call = async (name: string, args: Record<string, unknown> = {}) =>
      (await client.callTool({ name, arguments: args })) as {
        isError?: boolean;
        structuredContent?: Record<string, any>;
        content: Array<{ text: string }>;
      };

    const made = await call('create_schedule', { name: 'weekly-docs', cron: '0 9 * * 1', plan, catch_up: 'none', budget: { usd: 1 } });
    expect(made.isError).toBeFalsy();
    expect(made.structuredContent).toMatchObject({ name: 'weekly-docs', catch_up: 'none', enabled: true, budget: { usd: 1 } });
    const bad = await call('create_schedule', { name: 'bad-zone', cron: '0 9 * * 1', plan, timezone: 'Atlantis/Capital' });
    expect(bad.isError).toBe(true);
    expect(bad.content[0]!.text).toMatch(/VALIDATION_FAILED: timezone "Atlantis\/Capital" is not a known IANA time zone/);
    expect((await call('list_schedules')).structuredContent!.schedules.map((s: { name: string }) => s.name)).toEqual(['weekly-docs']);
    expect((await call('pause_schedule', { name: 'weekly-docs' })).structuredContent).toMatchObject({ enabled: false, next_run_at: null });
    expect((await call('resume_schedule', { name: 'weekly-docs' })).structuredContent).toMatchObject({ enabled: true });
    const run = await call('trigger_schedule', { name: 'weekly-docs' });
    expect(run.structuredContent!.task_id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await call('get_schedule', { name: 'weekly-docs' })).structuredContent!.last_run.task_id).toBe(run.structuredContent!.task_id);
    expect((await call('delete_schedule', { name: 'weekly-docs' })).structuredContent).toEqual({ deleted: 'weekly-docs' });
    expect((await call('get_schedule', { name: 'weekly-docs' })).content[0]!.text).toMatch(/SCHEDULE_NOT_FOUND/);
  });
});
