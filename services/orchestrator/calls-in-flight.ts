import type { AgentTransport } from '../protocol/transport/index.ts';

/** Calls this orchestrator has out with each agent now (GET /agents), counted where they leave. */
export class CallsInFlight {
  private readonly counts = new Map<string, number>();

  of(agent: string): number {
    return this.counts.get(agent) ?? 0;
  }

  /** The same transport, counting each call from when it is sent until it answers, fails or is aborted. */
  wrap(transport: AgentTransport): AgentTransport {
    const counts = this.counts;
    return {
      get name() {
        return transport.name;
      },
      async call(...args: Parameters<AgentTransport['call']>) {
        const agent = args[0];
        counts.set(agent, (counts.get(agent) ?? 0) + 1);
        try {
          return await transport.call(...args);
        } finally {
          const left = (counts.get(agent) ?? 1) - 1;
          if (left > 0) counts.set(agent, left);
          else counts.delete(agent);
        }
      },
      info: (agent, signal) => transport.info(agent, signal),
      ...(transport.check ? { check: transport.check.bind(transport) } : {}),
      close: () => transport.close(),
    };
  }
}
