import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/index.ts';
import { createConsulDiscovery } from './consul.ts';
import { createKubernetesDiscovery, createStaticDiscovery, type Discovery } from './index.ts';

/** The discovery the configuration names; Consul always has the static table to fall back on. */
export function createDiscovery(config: Pick<Config, 'agentHost' | 'agentUrls' | 'discovery'>, log: FastifyBaseLogger): Discovery {
  const fallback = createStaticDiscovery(config);
  const d = config.discovery;
  if (d.kind === 'kubernetes') return createKubernetesDiscovery({ ...d.k8s, agents: fallback.agents() });
  if (d.kind === 'consul' && d.consulAddress) return createConsulDiscovery({ address: d.consulAddress, fallback, balance: d.balance, log });
  return fallback;
}
