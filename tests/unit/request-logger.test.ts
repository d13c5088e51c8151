import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { symbols } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildAgentApp, defineAgent } from '../../agents/sdk/index.ts';
import { loggerOptions, serverLogOptions } from '../../services/telemetry/index.ts';

// Every service's Fastify is built with serverLogOptions; its request loggers are made only when used.
describe('request loggers', () => {
  const apps: Array<{ close(): Promise<unknown> }> = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  function build() {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const app = Fastify({ ...serverLogOptions('info', 'log-test'), logger: { ...(loggerOptions('info', 'log-test') as object), stream } });
    apps.push(app);
    app.get('/quiet', async () => ({ ok: true }));
    app.get('/loud', async (request) => {
      request.log.info({ headers: { authorization: 'Bearer s3cret' } }, 'handling');
      request.log.child({ part: 'inner' }).warn('inside');
      return { level: request.log.level };
    });
    app.get('/warn-only', { logLevel: 'warn' }, async (request) => {
      const level = request.log.level;
      request.log.info('not written');
      request.log.warn('written');
      return { level };
    });
    return { app, lines };
  }

  /** Counts the loggers pino makes for requests from now on. */
  function countChildren(log: FastifyBaseLogger): { made: number } {
    const count = { made: 0 };
    const child = log.child;
    log.child = function (this: FastifyBaseLogger, ...args: Parameters<FastifyBaseLogger['child']>) {
      count.made++;
      return child.apply(this, args);
    };
    return count;
  }

  it('makes no logger for a request that logs nothing', async () => {
    const { app, lines } = build();
    await app.ready();
    const count = countChildren(app.log);
    for (let i = 0; i < 20; i++) expect((await app.inject({ url: '/quiet' })).statusCode).toBe(200);
    expect(count.made).toBe(0);
    expect(lines.filter((l) => l.reqId)).toEqual([]);
  });

  it('a request that logs writes its lines with its request id, redacted', async () => {
    const { app, lines } = build();
    await app.ready();
    const count = countChildren(app.log);
    const res = await app.inject({ url: '/loud' });
    expect(res.json()).toEqual({ level: 'info' });
    // The request's logger and the one made from it (pino's children inherit the counting child()).
    expect(count.made).toBe(2);
    const handling = lines.find((l) => l.msg === 'handling')!;
    expect(handling).toMatchObject({ service: 'log-test', reqId: expect.any(String), level: 30 });
    expect(JSON.stringify(handling)).not.toContain('s3cret');
    expect((handling.headers as Record<string, unknown>).authorization).toBe('[redacted]');
    const inside = lines.find((l) => l.msg === 'inside')!;
    expect(inside).toMatchObject({ reqId: handling.reqId, part: 'inner', level: 40 });
  });

  it("keeps a route's own log level", async () => {
    const { app, lines } = build();
    const res = await app.inject({ url: '/warn-only' });
    expect(res.json()).toEqual({ level: 'warn' });
    expect(lines.some((l) => l.msg === 'not written')).toBe(false);
    expect(lines.find((l) => l.msg === 'written')).toMatchObject({ reqId: expect.any(String), level: 40 });
  });

  // An agent's handler gets ctx.log, a logger of its own that carries the call's key: under a level
  // that writes none of the runtime's lines, neither it nor the request's logger is made.
  const echo = defineAgent({
    name: 'log-echo',
    description: 'answers with its input, logging at info and, when asked, at warn',
    capabilities: ['echo'],
    async execute(input: { warn?: boolean }, ctx) {
      ctx.log.info('echoing');
      if (input.warn) ctx.log.warn({ upstream: { token: 's3cret' } }, 'asked to warn');
      return { echoed: input };
    },
  });
  const call = (key: string, input: Record<string, unknown>) => ({
    method: 'POST' as const,
    url: '/execute',
    payload: { idempotency_key: key, task_id: '0195a0b0-0000-7000-8000-000000000001', step_id: 's', attempt: 1, input },
  });

  it("makes no logger for an agent's call when nothing it logs is written", async () => {
    const app = buildAgentApp(echo, { logLevel: 'warn' });
    apps.push(app);
    await app.ready();
    const count = countChildren(app.log);
    for (let i = 0; i < 10; i++) {
      const res = await app.inject(call(`k-${i}`, { i }));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ status: 'succeeded', output: { echoed: { i } } });
    }
    expect(count.made).toBe(0);
  });

  it("an agent's line at an enabled level carries its call's key and request id, redacted", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const app = buildAgentApp(echo, { logLevel: 'warn' });
    apps.push(app);
    await app.ready();
    const count = countChildren(app.log);
    // The agent's app writes to stdout; its lines are read where pino hands them over.
    const stream = (app.log as unknown as Record<symbol, { write(line: string): boolean }>)[symbols.streamSym];
    const original = stream.write.bind(stream);
    stream.write = (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      return original(line);
    };
    const res = await app.inject(call('k-warn', { warn: true }));
    expect(res.statusCode, res.body).toBe(200);
    expect(count.made).toBe(2);
    const warned = lines.find((l) => l.msg === 'asked to warn')!;
    expect(warned).toMatchObject({ idempotencyKey: 'k-warn', reqId: expect.any(String), level: 40, upstream: { token: '[redacted]' } });
    expect(lines.some((l) => l.msg === 'echoing')).toBe(false);
  });
});
