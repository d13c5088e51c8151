import type { AgentTransport } from './types.ts';

/** Sends each agent's calls over the transport configured for it (AGENT_TRANSPORTS), HTTP otherwise. */
export function createRoutingTransport(
  byName: Record<string, AgentTransport>,
  choice: Readonly<Record<string, string>>,
  fallback: AgentTransport,
): AgentTransport {
  const pick = (agent: string) => byName[choice[agent] ?? ''] ?? fallback;
  return {
    name: 'routing',
    call: (agent, request, signal, onProgress) => pick(agent).call(agent, request, signal, onProgress),
    // Every agent serves /info over HTTP, whatever carries its calls.
    info: (agent, signal) => fallback.info(agent, signal),
    ...(fallback.check ? { check: fallback.check.bind(fallback) } : {}),
    async close() {
      await Promise.all([...new Set([...Object.values(byName), fallback])].map((t) => t.close()));
    },
  };
}
