import { consulClient } from './consul-client.ts';

export interface ConsulRegistration {
  id: string;
  deregister(): Promise<void>;
}

/**
 * Registers an agent instance with an HTTP check on its /health, so Consul itself finds out when
 * it dies (and drops it after `deregisterAfter`); a graceful shutdown deregisters at once.
 */
export async function registerWithConsul(
  address: string,
  service: { name: string; host: string; port: number; interval: string; timeout: string; deregisterAfter: string },
): Promise<ConsulRegistration> {
  const consul = consulClient(address);
  const id = `${service.name}-${service.host}-${service.port}`;
  await consul.agent.service.register({
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
  return {
    id,
    async deregister() {
      await consul.agent.service.deregister(id);
    },
  };
}
