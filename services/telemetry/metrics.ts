import { collectDefaultMetrics, Registry } from 'prom-client';

/** Each service owns its registry, so several services in one process never share series. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
