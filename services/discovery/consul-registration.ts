import type { FastifyBaseLogger } from 'fastify';
import { consulClient } from './consul-client.ts';

export interface ConsulRegistration {
  id: string;
  deregister(): Promise<void>;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
/** Consul durations as the config allows them: "500ms", "10s", "1m". */
function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : 10_000;
}

/**
 * Registers an agent instance with an HTTP check on its /health, so Consul itself finds out when
 * it dies (and drops it after `deregisterAfter`); a graceful shutdown deregisters at once.
 *
 * A live agent can be dropped too: a handler that keeps the CPU busy (a long review or typecheck on
 * a small machine) makes its checks time out, and Consul removes the service after `deregisterAfter`
 * for good. So the instance looks itself up in the catalog at every check interval and registers
 * again when it is gone and its own /health answers; without that it would serve nobody until
 * restarted.
 */
export async function registerWithConsul(
  address: string,
  service: { name: string; host: string; port: number; interval: string; timeout: string; deregisterAfter: string },
  log?: FastifyBaseLogger,
): Promise<ConsulRegistration> {
  const consul = consulClient(address);
  const id = `${service.name}-${service.host}-${service.port}`;
  const register = () =>
    consul.agent.service.register({
      id,
      name: service.name,
      address: service.host,
      port: service.port,
      tags: ['agentic-mesh', 'agent'],
      check: {
        name: `${service.name} /health`,
        http: `http://${service.host}:${service.port}/health`,
        interval: service.interval,
        timeout: service.timeout,
        deregistercriticalserviceafter: service.deregisterAfter,
      },
    });
  await register();
  let stopped = false;
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    consul.catalog.service
      .nodes(service.name)
      .then(async (nodes: Array<{ ServiceID?: string }>) => {
        if (stopped || nodes.some((n) => n.ServiceID === id)) return;
        // Only an instance that answers its own check comes back: a wedged one stays out.
        const own = await fetch(`http://${service.host}:${service.port}/health`, {
          signal: AbortSignal.timeout(durationMs(service.timeout)),
        });
        if (!own.ok || stopped) return;
        await register();
        log?.warn({ consulServiceId: id }, 'consul had dropped this instance; registered it again');
      })
      .catch((err: unknown) => log?.warn({ err }, 'consul registration check failed'))
      .finally(() => {
        checking = false;
      });
  }, durationMs(service.interval));
  timer.unref();
  return {
    id,
    async deregister() {
      stopped = true;
      clearInterval(timer);
      await consul.agent.service.deregister(id);
    },
  };
}
