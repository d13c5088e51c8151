import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/index.ts';
import { createConsulDiscovery } from './consul.ts';

/** One instance of an agent, taken for one call; release it when the call ends (load balancing counts it). */
export interface Instance {
  url: string;
  release(): void;
}

/** Where an agent answers: static (the embedded default), Consul, or Kubernetes Service DNS. */
export interface Discovery {
  readonly kind: string;
  /** Agent names this discovery knows about. */
  agents(): string[];
  /**
   * An instance of `agent` for one call, or undefined when no healthy instance is known. `usable`
   * leaves instances out (ones this orchestrator saw fail, or already tried for this call). With a
   * `key` (the call's idempotency key) the same key goes to the same instance while it is there.
   */
  pick(agent: string, usable?: (url: string) => boolean, key?: string): Instance | undefined;
  /** Every healthy instance of `agent` as last seen, where discovery tracks them one by one (Consul). */
  instances?(agent: string): string[] | undefined;
  /** Resolves once it knows where the agents are (Consul's first answers), or after `timeoutMs`. */
  ready?(timeoutMs?: number): Promise<void>;
  close?(): void;
}

/** The design's port table: the embedded default when nothing else is configured. */
export const defaultAgentPorts: Readonly<Record<string, number>> = Object.freeze({
  'feature-dev': 8002,
  'code-review': 8003,
  infrastructure: 8004,
  cicd: 8005,
  documentation: 8006,
});

const noop = () => {};

export function createStaticDiscovery(config: Pick<Config, 'agentHost' | 'agentUrls'>): Discovery {
  const table = new Map<string, string>(
    Object.entries(defaultAgentPorts).map(([name, port]) => [name, `http://${config.agentHost}:${port}`]),
  );
  // AGENT_URLS adds agents and moves the built-in ones; an agent in any language joins this way.
  for (const [name, url] of Object.entries(config.agentUrls)) table.set(name, url);
  return {
    kind: 'static',
    agents: () => [...table.keys()],
    pick: (agent, usable) => {
      const url = table.get(agent);
      return url && (!usable || usable(url)) ? { url, release: noop } : undefined;
    },
  };
}

/**
 * Kubernetes: every agent is a Service, so its DNS name is the address and the Service spreads
 * calls over the ready pods.
 */
export function createKubernetesDiscovery(options: {
  namespace: string;
  port: number;
  clusterDomain: string;
  agents: string[];
}): Discovery {
  return {
    kind: 'kubernetes',
    agents: () => [...options.agents],
    pick: (agent, usable) => {
      const url = `http://${agent}.${options.namespace}.svc.${options.clusterDomain}:${options.port}`;
      return options.agents.includes(agent) && (!usable || usable(url)) ? { url, release: noop } : undefined;
    },
  };
}

export { createConsulDiscovery, type ConsulDiscovery } from './consul.ts';
export { registerWithConsul, type ConsulRegistration } from './consul-registration.ts';

/** The discovery the configuration names; Consul always has the static table to fall back on. */
export function createDiscovery(config: Pick<Config, 'agentHost' | 'agentUrls' | 'discovery'>, log: FastifyBaseLogger): Discovery {
  const fallback = createStaticDiscovery(config);
  const d = config.discovery;
  if (d.kind === 'kubernetes') return createKubernetesDiscovery({ ...d.k8s, agents: fallback.agents() });
  if (d.kind === 'consul' && d.consulAddress) return createConsulDiscovery({ address: d.consulAddress, fallback, balance: d.balance, log });
  return fallback;
}
