import { collectDefaultMetrics, Registry } from 'prom-client';

// prom-client also exports these gauges under a `_total` name, which Prometheus reserves for
// counters (promtool check metrics flags them); the same values stay under the names without it.
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Each service owns its registry, so several services in one process never share series. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  return registry;
}
