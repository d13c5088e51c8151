import { Counter, Gauge, type Registry } from 'prom-client';

export interface OutlierOptions {
  /** How long an instance is left out after its first failure; doubles with each failure in a row. */
  baseEjectionMs: number;
  maxEjectionMs: number;
  registry?: Registry;
}

interface Health {
  agent: string;
  failures: number;
  ejectedUntil: number;
}

/**
 * A breaker per agent instance, from what this orchestrator sees itself (the way Envoy's outlier
 * detection works), besides Consul's health checks, which take seconds to notice a dead process:
 * an instance that refuses or drops a connection is left out of the rotation for a short cool-down
 * that doubles while it keeps failing; once the cool-down is over it gets calls again (half open),
 * and one success puts it back for good. Left-out instances are still tried when no other instance
 * is left (the transports do that), so ejection orders the choice and never makes an agent
 * unreachable by itself.
 */
export class OutlierEjection {
  private readonly options: OutlierOptions;
  private readonly byUrl = new Map<string, Health>();
  private readonly ejections: Counter<'agent'> | undefined;

  constructor(options: OutlierOptions) {
    this.options = options;
    if (options.registry) {
      this.ejections = new Counter({
        name: 'agent_instance_ejections_total',
        help: 'Agent instances left out of the rotation after failing to connect',
        labelNames: ['agent'],
        registers: [options.registry],
      });
      const byUrl = this.byUrl;
      new Gauge({
        name: 'agent_instances_ejected',
        help: 'Agent instances left out of the rotation now',
        labelNames: ['agent'],
        registers: [options.registry],
        collect() {
          this.reset();
          const now = Date.now();
          for (const h of byUrl.values()) if (h.ejectedUntil > now) this.inc({ agent: h.agent });
        },
      });
    }
  }

  /** May this instance take a call now? */
  usable(url: string, now = Date.now()): boolean {
    return (this.byUrl.get(url)?.ejectedUntil ?? 0) <= now;
  }

  failed(agent: string, url: string, now = Date.now()): void {
    const h = this.byUrl.get(url) ?? { agent, failures: 0, ejectedUntil: 0 };
    h.failures += 1;
    h.ejectedUntil = now + Math.min(this.options.maxEjectionMs, this.options.baseEjectionMs * 2 ** (h.failures - 1));
    this.byUrl.set(url, h);
    this.ejections?.inc({ agent });
  }

  succeeded(url: string): void {
    this.byUrl.delete(url);
  }

  /** The instances left out now, with when each comes back: for GET /agents. */
  ejected(agent: string, now = Date.now()): Array<{ url: string; until: string; failures: number }> {
    return [...this.byUrl]
      .filter(([, h]) => h.agent === agent && h.ejectedUntil > now)
      .map(([url, h]) => ({ url, until: new Date(h.ejectedUntil).toISOString(), failures: h.failures }));
  }
}
