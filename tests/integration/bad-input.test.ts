import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildKnowledgeApp, createMemoryCache } from '../../services/knowledge/index.ts';
import { createPgDb, migrate } from '../../services/state/index.ts';
import { schemaDatabaseUrl, testDatabases } from '../helpers/db.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents } from '../helpers/test-agents.ts';

/** Sends raw bytes and reads what comes back until the server closes (or `waitMs` passes). */
function raw(
  url: string,
  bytes: string,
  waitMs = 15_000,
): Promise<{ status: number; body: Record<string, unknown> | null; text: string; closedAfterMs: number }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    let text = '';
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (d) => (text += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const json = text.slice(text.indexOf('\r\n\r\n') + 4);
      let body: Record<string, unknown> | null;
      try {
        body = JSON.parse(json) as Record<string, unknown>;
      } catch {
        body = null;
      }
      resolve({ status, body, text, closedAfterMs: Date.now() - started });
    });
  });
}

const shape = (body: unknown) =>
  expect(body).toMatchObject({
    statusCode: expect.any(Number),
    code: expect.stringMatching(/^[A-Z_]+$/),
    error: expect.any(String),
    message: expect.any(String),
  });

async function platform() {
  const db = await testDatabases[0]!.open();
  onTestFinished(() => db.close());
  const { app } = await startPlatform(db, testAgents().agents);
  const url = await listenOnLoopback(app);
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { url, post };
}

const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
const plan = (input: Record<string, unknown>) => ({ steps: [{ id: 's', agent: 'math', input }] });

describe('bad input gets a 4xx in the one documented shape, never a 5xx, and nothing stored is lost', () => {
  it('the table: each case its status and code, naming what is wrong', async () => {
    const { url, post } = await platform();
    const table: Array<[string, () => Promise<Response>, number, string, RegExp?]> = [
      [
        'a NUL in the description',
        () => post('/orchestrate', JSON.stringify({ description: 'build \u0000 it' })),
        400,
        'INVALID_TEXT',
        /body\.description holds a NUL/,
      ],
      [
        'a lone surrogate in a step input',
        () => post('/orchestrate', '{"plan":{"steps":[{"id":"s","agent":"math","input":{"text":"x\\ud800y"}}]}}'),
        400,
        'INVALID_TEXT',
        /body\.plan\.steps\[0\]\.input\.text holds half of a UTF-16 surrogate pair/,
      ],
      [
        'a NUL in an input key',
        () => post('/orchestrate', JSON.stringify({ plan: plan({ 'k\u0000': 1 }) })),
        400,
        'INVALID_TEXT',
        /a key in body\.plan\.steps\[0\]\.input/,
      ],
      [
        'a lone surrogate in the Idempotency-Key',
        () => post('/orchestrate', JSON.stringify({ plan: plan({}) }), { 'idempotency-key': 'caf\u00e9' }),
        400,
        'VALIDATION_FAILED',
        /Idempotency-Key/,
      ],
      ['JSON nested 3,000 levels', () => post('/orchestrate', deep(3_000)), 400, 'TOO_DEEP'],
      [
        'JSON nested 65 levels in an input',
        () => post('/orchestrate', JSON.stringify({ plan: plan(JSON.parse(deep(65)) as Record<string, unknown>) })),
        400,
        'TOO_DEEP',
        /deeper than 64 levels/,
      ],
      ['a NUL in a query string', () => fetch(`${url}/tasks?status=run%00ning`), 400, 'INVALID_TEXT', /querystring\.status/],
      ['a malformed percent-encoding', () => fetch(`${url}/tasks/%zz`), 400, 'BAD_URL'],
      ['a 5,000-character task id', () => fetch(`${url}/tasks/${'a'.repeat(5_000)}`), 414, 'URI_TOO_LONG'],
      ['a body that is not JSON', () => post('/orchestrate', '{"plan":'), 400, 'INVALID_JSON'],
      [
        'another content type',
        () => fetch(`${url}/orchestrate`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<plan/>' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'a body over the limit',
        () => post('/orchestrate', JSON.stringify({ description: 'x'.repeat(2 * 1_048_576) })),
        413,
        'BODY_TOO_LARGE',
      ],
    ];
    for (const [what, send, status, code, message] of table) {
      const res = await send();
      const body = (await res.json()) as Record<string, unknown>;
      expect([res.status, body.code], what).toEqual([status, code]);
      shape(body);
      if (message) expect(body.message, what).toMatch(message);
    }
    // Nothing of it was stored.
    expect(((await (await fetch(`${url}/tasks`)).json()) as { tasks: unknown[] }).tasks).toEqual([]);
  });

  it('headers too large, a malformed request, a client too slow: the same shape, from the socket', async () => {
    const { url } = await platform();
    const big = await raw(url, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    expect(big.status).toBe(431);
    expect(big.body).toMatchObject({ code: 'HEADERS_TOO_LARGE' });
    const garbage = await raw(url, 'NOT AN HTTP REQUEST\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(garbage.body).toMatchObject({ code: 'BAD_REQUEST' });
    // Headers begun and never finished: cut off after the headers timeout (10 s), not held.
    const slow = await raw(url, 'GET /health HTTP/1.1\r\nHost: x\r\n', 30_000);
    expect(slow.status).toBe(408);
    expect(slow.body).toMatchObject({ code: 'REQUEST_TIMEOUT' });
    expect(slow.closedAfterMs).toBeLessThan(15_000);
  }, 40_000);

  it('an approval with a NUL in its comment is refused, and the approval still waits to be answered', async () => {
    const { url, post } = await platform();
    const { task_id } = (await (
      await post('/orchestrate', JSON.stringify({ plan: { steps: [{ id: 'ok', type: 'approval', prompt: 'go?' }] } }))
    ).json()) as { task_id: string };
    const statusOf = async () => ((await (await fetch(`${url}/tasks/${task_id}`)).json()) as { status: string }).status;
    await poll(async () => (await statusOf()) === 'waiting', { timeoutMs: 10_000, label: 'the workflow to park' });
    const bad = await post(`/tasks/${task_id}/approve`, JSON.stringify({ comment: 'ok\u0000' }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('INVALID_TEXT');
    expect(await statusOf()).toBe('waiting');
    const good = await post(`/tasks/${task_id}/approve`, JSON.stringify({ comment: 'ok' }));
    expect(good.status).toBe(200);
    await poll(async () => (await statusOf()) === 'succeeded', { timeoutMs: 10_000, label: 'the approved workflow to finish' });
  });

  it('an SSE reconnect to a finished task, after its last event, ends at once', async () => {
    const { url, post } = await platform();
    const done = (await (await post('/orchestrate', JSON.stringify({ plan: plan({ values: [1] }), wait: true }))).json()) as {
      task_id: string;
    };
    const all = await (await fetch(`${url}/tasks/${done.task_id}/events`)).text();
    const last = [...all.matchAll(/^id: (\d+)$/gm)].at(-1)![1]!;
    const started = Date.now();
    const again = await fetch(`${url}/tasks/${done.task_id}/events`, { headers: { 'last-event-id': last } });
    expect(await again.text()).toBe('');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('the knowledge service refuses a NUL in a search the same way', async () => {
    const kdb = await testDatabases[0]!.open();
    onTestFinished(() => kdb.close());
    const app = buildKnowledgeApp({ db: kdb, cache: createMemoryCache(0), logLevel: 'silent' });
    onTestFinished(() => app.close());
    const res = await app.inject({ url: '/search?q=a%00b' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'INVALID_TEXT' });
  });
});

describe('while Postgres cannot be reached', () => {
  it('the API answers 503 DATABASE_UNAVAILABLE with Retry-After, and works again when it is back', async () => {
    // A real TCP hop to the real Postgres that the test can cut: what a network failure or a
    // restarting database looks like to the orchestrator.
    const databaseUrl = new URL(await schemaDatabaseUrl('down'));
    const sockets = new Set<Socket>();
    let proxy: Server | undefined;
    const open = (port = 0) =>
      new Promise<number>((resolve) => {
        proxy = createServer((client) => {
          const upstream = connect(Number(databaseUrl.port || 5432), databaseUrl.hostname);
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on('close', () => sockets.delete(s));
            s.on('error', () => s.destroy());
          }
          client.pipe(upstream).pipe(client);
        }).listen(port, '127.0.0.1', () => resolve((proxy!.address() as { port: number }).port));
      });
    const cut = () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy!.close(() => resolve());
      });
    const port = await open();
    onTestFinished(() => (proxy?.listening ? cut() : undefined));
    const viaProxy = new URL(databaseUrl);
    viaProxy.host = `127.0.0.1:${port}`;
    const db = await createPgDb({ connectionString: viaProxy.toString(), poolSize: 4 });
    onTestFinished(() => db.close().catch(() => {}));
    await migrate(db);
    const { agents } = testAgents();
    const { app } = await startPlatform(db, agents);

    await cut();
    const down = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { plan: { steps: [{ id: 's', agent: 'math', input: { values: [1] } }] } },
    });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    expect(down.headers['retry-after']).toBe('5');
    const list = await app.inject({ url: '/tasks' });
    expect([list.statusCode, list.json().code]).toEqual([503, 'DATABASE_UNAVAILABLE']);

    await open(port);
    const back = await poll(
      async () => {
        const res = await app.inject({
          method: 'POST',
          url: '/orchestrate',
          payload: { plan: { steps: [{ id: 's', agent: 'math', input: { values: [1] } }] }, wait: true },
        });
        return res.statusCode === 200 ? (res.json() as { status: string }) : undefined;
      },
      { timeoutMs: 15_000, label: 'the API to work again' },
    );
    expect(back.status).toBe('succeeded');
  }, 40_000);
});
