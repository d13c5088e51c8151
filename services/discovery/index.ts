import type { Config } from '../config/index.ts';

/** Where an agent answers. Static today; Consul and Kubernetes DNS implement the same interface. */
export interface Discovery {
  readonly kind: string;
  /** Agent names this discovery knows about. */
  agents(): string[];
  /** Base URL of an instance of `agent`, or undefined when none is known. */
  resolve(agent: string): string | undefined;
}

/** The design's port table: the embedded default when nothing else is configured. */
export const defaultAgentPorts: Readonly<Record<string, number>> = Object.freeze({
  'feature-dev': 8002,
  'code-review': 8003,
  infrastructure: 8004,
  cicd: 8005,
  documentation: 8006,
});

export function createStaticDiscovery(config: Pick<Config, 'agentHost' | 'agentUrls'>): Discovery {
  const table = new Map<string, string>(
    Object.entries(defaultAgentPorts).map(([name, port]) => [name, `http://${config.agentHost}:${port}`]),
  );
  // AGENT_URLS adds agents and moves the built-in ones; an agent in any language joins this way.
  for (const [name, url] of Object.entries(config.agentUrls)) table.set(name, url);
  return {
    kind: 'static',
    agents: () => [...table.keys()],
    resolve: (agent) => table.get(agent),
  };
}
