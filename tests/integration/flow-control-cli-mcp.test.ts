import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildMcpGatewayApp } from '../../services/mcp-gateway/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { runCli } from '../helpers/processes.ts';
import { testAgents } from '../helpers/test-agents.ts';

const plan = { steps: [{ id: 'a', agent: 'math', input: { values: [4, 5], ms: 300 } }] };
const postgres = testDatabases.find((d) => d.name === 'postgres')!;

describe('concurrency, rate limits and priority through the CLI and the MCP tools', () => {
  it('agentic-mesh run --concurrency --rate-limit --priority', { timeout: 120_000 }, async () => {
    const db = await postgres.open();
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents);
    const url = await listenOnLoopback(app);
    const dir = await mkdtemp(join(tmpdir(), 'mesh-flow-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'plan.json'), JSON.stringify(plan));
    await writeFile(join(dir, 'input.json'), JSON.stringify({ repo: 'acme/api' }));
    const run = (...flags: string[]) =>
      runCli(['run', '--plan', join(dir, 'plan.json'), '--input', join(dir, 'input.json'), '--detach', ...flags, '--url', url], {
        LOG_LEVEL: 'silent',
      });
    const first = await run('--concurrency', 'input.repo:1', '--priority', '2');
    expect(first.code, first.stderr).toBe(0);
    const second = await run('--concurrency', 'input.repo:1', '--priority', '2');
    expect(second.code, second.stderr).toBe(0);
    const ids = [first, second].map((r) => /task (\S+) submitted/.exec(r.stdout)![1]!);
    const rows = await db.query<{ concurrency_key: string; priority: number }>(
      'SELECT concurrency_key, priority FROM workflows WHERE id = ANY($1::uuid[])',
      [ids],
    );
    expect(rows).toEqual([
      { concurrency_key: 'input.repo=acme/api', priority: 2 },
      { concurrency_key: 'input.repo=acme/api', priority: 2 },
    ]);
    const limited = await run('--rate-limit', 'input.repo:1/1h');
    expect(limited.code, limited.stderr).toBe(0);
    const delayed = await run('--rate-limit', 'input.repo:1/1h');
    expect(delayed.stdout).toMatch(/scheduled/);
    const bad = await run('--rate-limit', 'input.repo:1/often');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/rate_limit\.period "often" is not a duration/);
    const malformed = await run('--concurrency', 'input.repo');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/--concurrency "input.repo" is not key:limit/);
  });

  it('the orchestrate tool takes concurrency, rate_limit and priority', { timeout: 120_000 }, async () => {
    const db = await postgres.open();
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents);
    const mcp = buildMcpGatewayApp({ orchestratorUrl: await listenOnLoopback(app), knowledgeUrl: undefined, logLevel: 'silent' });
    onTestFinished(() => mcp.close());
    const client = new Client({ name: 'flow-check', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${await listenOnLoopback(mcp)}/mcp`)));
    onTestFinished(() => client.close());
    const call = async (args: Record<string, unknown>) =>
      (await client.callTool({ name: 'orchestrate', arguments: { plan, input: { repo: 'acme/web' }, ...args } })) as {
        isError?: boolean;
        structuredContent?: Record<string, any>;
        content: Array<{ text: string }>;
      };
    const held = await call({ concurrency: { key: 'input.repo', limit: 1 }, priority: 4 });
    expect(held.isError, held.content[0]?.text).toBeFalsy();
    expect(held.structuredContent).toMatchObject({ status: 'running' });
    const queued = await call({ concurrency: { key: 'input.repo', limit: 1 } });
    expect(queued.structuredContent).toMatchObject({ status: 'queued', queue: { concurrency_key: 'input.repo=acme/web', position: 1 } });
    await call({ rate_limit: { key: 'input.repo', limit: 1, period: '1h' } });
    const later = await call({ rate_limit: { key: 'input.repo', limit: 1, period: '1h' } });
    expect(later.structuredContent).toMatchObject({ status: 'scheduled' });
    const bad = await call({ rate_limit: { key: 'input.nothing', limit: 1, period: '1h' } });
    expect(bad.isError).toBe(true);
    expect(bad.content[0]!.text).toContain('rate_limit.key "input.nothing" reads nothing');
  });
});
