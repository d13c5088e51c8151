import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { poll } from '../helpers/poll.ts';
import { runCli, startProcess } from '../helpers/processes.ts';

describe('npm start and the CLI (child processes, PGlite)', () => {
  it('starts everything in one process; `run` follows a workflow to the end and `status` shows it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-cli-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const platform = await startProcess(['start'], { PGLITE_DATA_DIR: join(dir, 'pg'), LOG_LEVEL: 'warn' }, 8);
    expect(Object.keys(platform.urls).sort()).toEqual([
      'agent cicd',
      'agent code-review',
      'agent documentation',
      'agent feature-dev',
      'agent infrastructure',
      'knowledge',
      'mcp-gateway',
      'orchestrator',
    ]);
    // The knowledge service shares the process's database and indexes the project's docs once it listens.
    await poll(async () => (await fetch(`${platform.urls.knowledge}/ready`)).ok, {
      timeoutMs: 30_000,
      label: 'knowledge to index the docs',
    });
    expect((await fetch(`${platform.urls['mcp-gateway']}/ready`)).status).toBe(200);
    const found = (await (await fetch(`${platform.urls.knowledge}/search?q=lease`)).json()) as { results: unknown[] };
    expect(found.results.length).toBeGreaterThan(0);
    const url = platform.urls.orchestrator!;
    expect(platform.stdout()).toContain('(state: PGlite in');

    const input = join(dir, 'input.json');
    await writeFile(input, JSON.stringify({ files: [{ path: 'src/a.ts', content: 'export const answer: number = 42;\n' }] }));
    const run = await runCli(['run', 'review the code and write api docs', '--input', input, '--url', url], {});
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const taskId = /task ([0-9a-f-]{36}) submitted/.exec(run.stdout)?.[1];
    expect(taskId).toBeTruthy();
    // Not a terminal: one line per event, then the final status.
    expect(run.stdout).toMatch(/step_succeeded code-review \(code-review\) #1/);
    expect(run.stdout).toMatch(/step_succeeded documentation \(documentation\) #1/);
    expect(run.stdout).toContain(`task ${taskId}: succeeded`);

    const status = await runCli(['status', taskId!, '--url', url], {});
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/code-review \(code-review\): succeeded, 1 attempt\(s\) \d+ ms — /);

    // The runs, newest first, filtered as GET /tasks filters them; a bad filter is the API's 400.
    const runs = await runCli(['runs', '--url', url], {});
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toMatch(
      new RegExp(`^${taskId}  succeeded  \\d{4}-\\d\\d-\\d\\dT\\S+ +(\\d+ ms|\\d+\\.\\d s)  review the code and write api docs$`, 'm'),
    );
    expect((await runCli(['runs', '--status', 'failed', '--url', url], {})).stdout).toBe('no runs match\n');
    expect((await runCli(['runs', '--search', 'API DOCS', '--limit', '1', '--url', url], {})).stdout).toContain(taskId);
    const badFilter = await runCli(['runs', '--status', 'done', '--url', url], {});
    expect(badFilter.code).toBe(1);
    expect(badFilter.stderr).toContain('VALIDATION_FAILED: status must be one of');

    // The same idempotency key twice: one task, and the CLI says so.
    const keyed = ['run', 'review the code', '--input', input, '--url', url, '--detach', '--idempotency-key', `cli-${taskId}`];
    const once = await runCli(keyed, {});
    const twice = await runCli(keyed, {});
    const onceId = /task ([0-9a-f-]{36}) submitted/.exec(once.stdout)?.[1];
    expect(onceId).toBeTruthy();
    expect(twice.stdout).toContain(`task ${onceId} was already submitted with this key`);

    const again = await runCli(['resume', taskId!, '--url', url], {});
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('WORKFLOW_FINISHED');

    // Later, not now: stored as scheduled, and the CLI says when instead of following an idle task.
    const later = await runCli(['run', 'review the code', '--input', input, '--delay', '1h', '--url', url], {});
    expect(later.code, later.stderr).toBe(0);
    expect(later.stdout).toMatch(/scheduled to start at \d{4}-\d\d-\d\dT/);
    const laterId = /task (\S+) submitted/.exec(later.stdout)?.[1];
    expect((await runCli(['cancel', laterId!, '--url', url], {})).code).toBe(0);
    const badDelay = await runCli(['run', 'review the code', '--delay', 'soon', '--url', url], {});
    expect(badDelay.code).toBe(1);
    expect(badDelay.stderr).toContain('delay "soon" is not a duration');

    const unplannable = await runCli(['run', 'bake a cake', '--url', url], {});
    expect(unplannable.code).toBe(1);
    expect(unplannable.stderr).toMatch(/UNPLANNABLE: no agent can do "bake a cake"/);

    // A workflow that waits for a person, answered from the CLI.
    const plan = {
      steps: [
        { id: 'sign-off', type: 'approval', prompt: 'Go?' },
        {
          id: 'docs',
          agent: 'documentation',
          input: { files: [{ path: 'a.ts', content: 'export const a = 1;\n' }] },
          depends_on: ['sign-off'],
        },
      ],
    };
    const parked = (await (
      await fetch(`${url}/orchestrate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ plan }) })
    ).json()) as { task_id: string };
    const approved = await runCli(['approve', parked.task_id, '--comment', 'ship it', '--url', url], {});
    expect(approved.stdout.trim()).toBe(`task ${parked.task_id}: step sign-off approved`);
    const after = await runCli(['status', parked.task_id, '--url', url], {});
    expect(after.stdout).toMatch(/sign-off \(person\): succeeded/);

    platform.child.kill('SIGTERM');
    const code = await new Promise((resolve) => platform.child.once('exit', resolve));
    expect(code).toBe(0);
  }, 90_000);

  it("takes the design documents' load test: 50 concurrent POST /orchestrate all answered 2xx, none throttled", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-load-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const platform = await startProcess(['start'], { PGLITE_DATA_DIR: join(dir, 'pg'), LOG_LEVEL: 'warn' }, 8);
    const url = platform.urls.orchestrator!;
    // As `curl -X POST :8001/orchestrate -d '{"description":"Test workflow N"}' &` fifty times, with the
    // files to test: without any, cicd refuses the plan (422 UNPLANNABLE) before anything is stored.
    const files = [{ path: 'src/a.ts', content: 'export const a: number = 1;\n' }];
    const answers = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await fetch(`${url}/orchestrate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ description: `Test workflow ${i + 1}`, input: { files, steps: ['lint'] } }),
        });
        return { status: res.status, body: (await res.json()) as { task_id?: string; code?: string; message?: string } };
      }),
    );
    // What went wrong, if anything did, in the agents' words.
    expect(answers.filter((a) => a.status < 200 || a.status > 299).map((a) => `${a.status} ${a.body.code}: ${a.body.message}`)).toEqual([]);
    expect(new Set(answers.map((a) => a.body.task_id)).size).toBe(50);
  }, 90_000);

  it('a SIGTERM that arrives as a role announces it listens is a graceful shutdown, not a kill', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const preload = new URL('../helpers/signal-on-listen.ts', import.meta.url).href;
    const child = spawn(join(root, 'node_modules/.bin/node'), ['--import', preload, join(root, 'bin/agentic-mesh.ts'), 'mcp-gateway'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    expect(out).toContain('listening on http');
    // Killed by the signal's default action, it would end with signal SIGTERM and skip the close.
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(out).toContain('agentic-mesh: SIGTERM, shutting down');
  }, 30_000);

  it('a bad configuration stops start-up naming the variable', async () => {
    const res = await runCli(['orchestrator'], { STEP_TIMEOUT_MS: 'soon' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('STEP_TIMEOUT_MS="soon" must be integer');
  });

  it('a flag naming a file that is not there or not JSON, or a budget that is not a number, is refused naming the flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-cli-flags-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'broken.json'), '{"steps": [');
    // Nothing listens there: each is refused before any request.
    const env = { ORCHESTRATOR_URL: 'http://127.0.0.1:9' };
    const cases: Array<[string[], string]> = [
      [['run', '--plan', join(dir, 'missing.json')], `--plan ${join(dir, 'missing.json')}: no such file`],
      [['run', '--plan', join(dir, 'broken.json')], `--plan ${join(dir, 'broken.json')} is not JSON`],
      [['run', 'document it', '--input', join(dir, 'missing.json')], '--input'],
      [['run', 'document it', '--budget-usd', 'abc'], '--budget-usd "abc" is not a number'],
      [['schedules', 'create', 'nightly', '--cron', '0 2 * * *', '--plan', join(dir, 'missing.json')], '--plan'],
      // Without its scheme it used to be "cannot reach the orchestrator ... is it running?".
      [['runs', '--url', '127.0.0.1:9'], '--url "127.0.0.1:9" is not an http(s) URL: did you mean http://127.0.0.1:9?'],
    ];
    for (const [args, said] of cases) {
      const res = await runCli(args, env);
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr, args.join(' ')).toContain(`error: ${said}`);
    }
    const schemeless = await runCli(['runs'], { ORCHESTRATOR_URL: '127.0.0.1:9' });
    expect(schemeless.code).toBe(1);
    expect(schemeless.stderr).toContain('ORCHESTRATOR_URL="127.0.0.1:9" must match pattern "^https?://"');
  });
});
