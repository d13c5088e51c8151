import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { poll } from '../helpers/poll.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
// The project's own Node 24, which runs .ts files; vitest itself may run on another.
const node = path.join(root, 'node_modules/.bin/node');
const recorder = new URL('../helpers/record-loads.ts', import.meta.url).href;

/** Runs `agentic-mesh <args>` until it listens, stops it, and returns what it loaded: project files and packages. */
async function loadsOf(args: string[], env: Record<string, string> = {}): Promise<{ files: string[]; packages: string[] }> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'mesh-role-'));
  onTestFinished(() => rm(scratch, { recursive: true, force: true }));
  const loadsFile = path.join(scratch, 'loads.json');
  const child = spawn(node, ['--import', recorder, path.join(root, 'bin/agentic-mesh.ts'), ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      PGLITE_DATA_DIR: path.join(scratch, 'pg'),
      KNOWLEDGE_INDEX_DOCS: 'false',
      LOADS_FILE: loadsFile,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await poll(
    () => {
      if (child.exitCode !== null) throw new Error(`agentic-mesh ${args.join(' ')} exited ${child.exitCode}: ${out}`);
      return /listening on http/.test(out);
    },
    { timeoutMs: 30_000, label: `agentic-mesh ${args.join(' ')} to listen`, intervalMs: 50 },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  const urls = JSON.parse(await readFile(loadsFile, 'utf8')) as string[];
  const files = urls
    .filter((u) => u.startsWith('file://') && !u.includes('/node_modules/'))
    .map((u) => path.relative(root, fileURLToPath(u)));
  const packages = [
    ...new Set(urls.map((u) => /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => Boolean(p))),
  ];
  return { files, packages };
}

const under = (files: string[], ...dirs: string[]) => files.filter((f) => dirs.some((d) => f.startsWith(d)));
const AGENT_DIRS = ['agents/feature-dev/', 'agents/code-review/', 'agents/infrastructure/', 'agents/cicd/', 'agents/documentation/'];

describe('each role loads only what it runs (child processes)', () => {
  it('an agent process loads its own agent and the SDK, and no orchestrator, engine, MCP, database or other agent code', async () => {
    const { files, packages } = await loadsOf(['agent', 'cicd']);
    // The recorder saw the role's own code, so an empty list below means something.
    expect(files).toContain('agents/cicd/index.ts');
    expect(files).toContain('agents/sdk/start-agent.ts');
    expect(under(files, 'services/orchestrator/', 'services/mcp-gateway/', 'services/knowledge/', 'services/protocol/transport/')).toEqual(
      [],
    );
    expect(under(files, ...AGENT_DIRS.filter((d) => d !== 'agents/cicd/'))).toEqual([]);
    expect(
      packages.filter((p) => ['@modelcontextprotocol/sdk', 'pg', '@electric-sql/pglite', 'opossum', '@opentelemetry/sdk-node'].includes(p)),
    ).toEqual([]);
  }, 60_000);

  it('the orchestrator loads no agent code and no MCP code: it knows agents through discovery and /info', async () => {
    const { files, packages } = await loadsOf(['orchestrator']);
    expect(files).toContain('services/orchestrator/app.ts');
    expect(files).toContain('services/protocol/transport/http-transport.ts');
    expect(under(files, 'agents/')).toEqual([]);
    expect(under(files, 'services/mcp-gateway/', 'services/knowledge/')).toEqual([]);
    expect(packages).not.toContain('@modelcontextprotocol/sdk');
  }, 60_000);

  it('the knowledge service and the MCP gateway load neither agents nor the orchestrator', async () => {
    for (const role of ['knowledge', 'mcp-gateway']) {
      const { files, packages } = await loadsOf([role]);
      expect(files, role).toContain(`services/${role}/index.ts`);
      expect(under(files, 'agents/', 'services/orchestrator/'), role).toEqual([]);
      if (role === 'knowledge') expect(packages).not.toContain('@modelcontextprotocol/sdk');
    }
  }, 90_000);
});
