import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { registerWithConsul, type ConsulRegistration } from '../../services/discovery/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { startConsulDouble } from '../doubles/consul-double.ts';
import { metricValue } from '../helpers/metrics.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { startProcess } from '../helpers/processes.ts';
import { testAgents, type RunLog } from '../helpers/test-agents.ts';

/** A real Consul agent when CONSUL_HTTP_ADDR is set (its checks must reach 127.0.0.1), else the double. */
async function consulAddress(): Promise<string> {
  return process.env.CONSUL_HTTP_ADDR ?? (await startConsulDouble()).address;
}

async function replica(
  consul: string,
  log: RunLog,
  interval = '100ms',
): Promise<{ url: string; registration: ConsulRegistration; kill: () => Promise<void> }> {
  const math = testAgents(log).agents.find((a) => a.name === 'math')!;
  const app = buildAgentApp(math, { logLevel: 'silent' });
  const url = await listenOnLoopback(app);
  const registration = await registerWithConsul(consul, {
    name: 'math',
    host: '127.0.0.1',
    port: Number(new URL(url).port),
    interval,
    timeout: '500ms',
    deregisterAfter: '1s',
  });
  let killed = false;
  const kill = async () => {
    if (killed) return;
    killed = true;
    await app.close();
  };
  onTestFinished(async () => {
    await kill();
    await registration.deregister().catch(() => {});
  });
  return { url, registration, kill };
}

async function orchestrator(env: Record<string, string>) {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  onTestFinished(() => db.close());
  return (await startPlatform(db, [], env)).app;
}

const one = { plan: { steps: [{ id: 's', agent: 'math', input: { values: [1] } }] }, wait: true };

describe('discovery through Consul', () => {
  it('spreads calls over healthy instances, drops one that dies, and deregisters on shutdown', async () => {
    const consul = await consulAddress();
    const logA: RunLog = { runs: [] };
    const logB: RunLog = { runs: [] };
    const a = await replica(consul, logA);
    const b = await replica(consul, logB);
    // The static entry points nowhere: every call that succeeds was routed by Consul.
    // No waiting for an instance: the last check below wants the failure at once.
    const app = await orchestrator({ CONSUL_HTTP_ADDR: consul, AGENT_URLS: 'math=http://127.0.0.1:9', AGENT_UNAVAILABLE_TIMEOUT_MS: '0' });

    await poll(
      async () => {
        const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: one });
        return res.json().status === 'succeeded';
      },
      { timeoutMs: 10_000, label: 'a healthy math instance in Consul' },
    );
    await poll(
      async () => {
        await app.inject({ method: 'POST', url: '/orchestrate', payload: one });
        return logA.runs.length > 0 && logB.runs.length > 0;
      },
      { timeoutMs: 10_000, label: 'calls to reach both instances' },
    );

    await a.kill();
    const before = logB.runs.length;
    await poll(
      async () =>
        (await app.inject({ method: 'POST', url: '/orchestrate', payload: one })).json().status === 'succeeded' &&
        logB.runs.length > before,
      { timeoutMs: 10_000, label: 'calls to go to the live instance' },
    );
    // Once Consul has seen the check fail, nothing is sent to the dead instance any more: every
    // call succeeds at its first attempt.
    await poll(
      async () => {
        for (let i = 0; i < 5; i++) {
          const res = (await app.inject({ method: 'POST', url: '/orchestrate', payload: one })).json();
          if (res.status !== 'succeeded' || res.results[0].attempts !== 1) return false;
        }
        return true;
      },
      { timeoutMs: 10_000, label: 'five calls in a row on the first attempt' },
    );

    await b.registration.deregister();
    await poll(
      async () => {
        const res = (
          await app.inject({
            method: 'POST',
            url: '/orchestrate',
            payload: { ...one, plan: { steps: [{ id: 's', agent: 'math', retry: { max_attempts: 1 } }] } },
          })
        ).json();
        return res.status === 'failed' && /agent "math": no healthy instance is known to consul discovery/.test(res.error.message)
          ? res
          : undefined;
      },
      { timeoutMs: 10_000, label: 'math to have no instance after deregistration' },
    );
  }, 40_000);

  it('a dead instance Consul still calls healthy is tried, left out, and the call goes to a live one without using an attempt', async () => {
    const consul = await consulAddress();
    const logA: RunLog = { runs: [] };
    const logB: RunLog = { runs: [] };
    // Checks every 30 s: for this test, Consul keeps calling the dead instance healthy.
    const a = await replica(consul, logA, '30s');
    await replica(consul, logB, '30s');
    const app = await orchestrator({ CONSUL_HTTP_ADDR: consul, AGENT_URLS: 'math=http://127.0.0.1:9' });
    await poll(async () => (await app.inject({ method: 'POST', url: '/orchestrate', payload: one })).json().status === 'succeeded', {
      timeoutMs: 10_000,
      label: 'math instances in Consul',
    });
    await a.kill();
    const before = logB.runs.length;
    for (let i = 0; i < 10; i++) {
      const res = (await app.inject({ method: 'POST', url: '/orchestrate', payload: one })).json();
      expect([res.status, res.results[0].attempts]).toEqual(['succeeded', 1]);
    }
    expect(logB.runs.length - before).toBe(10);
    const math = (await app.inject({ url: '/agents' })).json().agents.find((x: { name: string }) => x.name === 'math');
    expect(math.ejected_instances.map((e: { url: string }) => e.url)).toEqual([a.url]);
    expect(math.circuit_breaker.state).toBe('closed');
    expect(
      metricValue((await app.inject({ url: '/metrics' })).body, 'agent_instance_ejections_total', { agent: 'math' }),
    ).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('registers a live instance again after Consul dropped it (its checks timed out while it was busy)', async () => {
    const consul = await consulAddress();
    const { registration } = await replica(consul, { runs: [] });
    const base = /^https?:\/\//.test(consul) ? consul : `http://${consul}`;
    const listed = async () => {
      const res = await fetch(`${base}/v1/catalog/service/math`);
      return ((await res.json()) as Array<{ ServiceID: string }>).some((s) => s.ServiceID === registration.id);
    };
    await poll(listed, { timeoutMs: 5000, label: 'registered' });
    // What Consul does past DeregisterCriticalServiceAfter.
    await fetch(`${base}/v1/agent/service/deregister/${registration.id}`, { method: 'PUT' });
    expect(await listed()).toBe(false);
    await poll(listed, { timeoutMs: 5000, label: 'registered again' });
  });

  it('falls back to the static table when Consul cannot be reached', async () => {
    const log: RunLog = { runs: [] };
    const math = testAgents(log).agents.find((x) => x.name === 'math')!;
    const agentApp = buildAgentApp(math, { logLevel: 'silent' });
    onTestFinished(() => agentApp.close());
    const url = await listenOnLoopback(agentApp);
    // A port that was free a moment ago: nothing answers there.
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    const app = await orchestrator({ CONSUL_HTTP_ADDR: `127.0.0.1:${closed}`, AGENT_URLS: `math=${url}` });
    const res = (await app.inject({ method: 'POST', url: '/orchestrate', payload: one })).json();
    expect(res.status).toBe('succeeded');
    expect(log.runs).toHaveLength(1);
  }, 20_000);

  // It reads the double's state, so against a real Consul it is reported as skipped.
  it.skipIf(Boolean(process.env.CONSUL_HTTP_ADDR))(
    'an agent started by the CLI registers itself with its /health check and deregisters on SIGTERM',
    async () => {
      const consul = await startConsulDouble();
      const agent = await startProcess(
        ['agent', 'documentation'],
        { CONSUL_HTTP_ADDR: consul.address, CONSUL_CHECK_INTERVAL: '100ms', LOG_LEVEL: 'warn' },
        1,
      );
      expect(agent.stdout()).toMatch(/registered with Consul as documentation-127\.0\.0\.1-\d+/);
      await poll(() => consul.services().some((s) => s.name === 'documentation' && s.status === 'passing'), {
        timeoutMs: 10_000,
        label: 'the agent to pass its check',
      });
      agent.child.kill('SIGTERM');
      await new Promise((resolve) => agent.child.once('exit', resolve));
      expect(consul.services().filter((s) => s.name === 'documentation')).toEqual([]);
    },
    30_000,
  );
});
