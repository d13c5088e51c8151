import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { agentInfo, createAgentRuntime, startGrpcServer } from '../../agents/sdk/index.ts';
import { createGrpcTransport } from '../../services/protocol/transport/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { startPlatform } from '../helpers/platform.ts';
import { testAgents, type RunLog } from '../helpers/test-agents.ts';

async function grpcAgent(log: RunLog) {
  const math = testAgents(log).agents.find((a) => a.name === 'math')!;
  const runtime = createAgentRuntime(math);
  const server = await startGrpcServer(() => agentInfo(math), runtime, { host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }) });
  onTestFinished(() => server.close());
  return `127.0.0.1:${server.port}`;
}

const request = (key: string) => ({
  idempotency_key: key,
  task_id: 't',
  step_id: 's',
  attempt: 1,
  input: { values: [2, 5] },
  context: { dependencies: {} },
  timeout_ms: 5_000,
});

describe('gRPC transport (proto/agent.proto)', () => {
  it('runs a workflow whose agent is reached over gRPC', async () => {
    const log: RunLog = { runs: [] };
    const address = await grpcAgent(log);
    const db = await createPgliteDb('memory://');
    await migrate(db);
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, [], {
      AGENT_TRANSPORTS: 'math=grpc',
      AGENT_GRPC_URLS: `math=${address}`,
      AGENT_URLS: 'math=http://127.0.0.1:9',
    });
    const plan = {
      steps: [
        { id: 'a', agent: 'math', input: { values: [1] } },
        { id: 'b', agent: 'math', input: { values: [10] }, depends_on: ['a'] },
      ],
    };
    const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
    expect(body.status).toBe('succeeded');
    expect(body.results[1].output).toEqual({ sum: 11, from: ['a'] });
    expect(log.runs).toHaveLength(2);
  });

  it('replays a repeated key, answers Info and the standard health check, and says when the agent is gone', async () => {
    const log: RunLog = { runs: [] };
    const address = await grpcAgent(log);
    const transport = createGrpcTransport(() => address);
    onTestFinished(() => transport.close());
    const first = await transport.call('math', request('k1'), new AbortController().signal);
    const again = await transport.call('math', request('k1'), new AbortController().signal);
    expect(first).toMatchObject({ output: { sum: 7 }, replayed: false });
    expect(again).toMatchObject({ output: { sum: 7 }, replayed: true });
    expect(log.runs).toHaveLength(1);
    expect(await transport.info('math', new AbortController().signal)).toMatchObject({ name: 'math', protocol: '1' });

    const Health = grpc.makeClientConstructor(healthService, 'grpc.health.v1.Health');
    const health = new Health(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      check(req: { service: string }, cb: (err: Error | null, res: { status: string }) => void): void;
    };
    onTestFinished(() => health.close());
    const status = await new Promise<{ status: string }>((resolve, reject) =>
      health.check({ service: '' }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect(status.status).toBe('SERVING');

    const nowhere = createGrpcTransport(() => '127.0.0.1:9');
    onTestFinished(() => nowhere.close());
    await expect(nowhere.call('math', request('k2'), AbortSignal.timeout(5_000))).rejects.toMatchObject({
      code: 'AGENT_UNAVAILABLE',
      retryable: true,
    });
  });
});
