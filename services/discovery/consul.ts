import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { consulClient } from './consul-client.ts';
import type { Discovery, Instance } from './index.ts';

interface HealthEntry {
  Node: { Address: string };
  Service: { ID: string; Address: string; Port: number };
}

export interface ConsulDiscovery extends Discovery {
  ready(timeoutMs?: number): Promise<void>;
  /** Healthy instances as last seen, by agent. */
  instances(agent: string): string[] | undefined;
}

/**
 * The instance a key goes to (rendezvous hashing): every orchestrator picks the same one for the
 * same key while it is healthy, and when it goes only its keys move. A call sent again after its
 * orchestrator died so reaches the replica that ran it, which answers from its store, even one
 * kept in memory.
 */
function rendezvous(urls: string[], key: string): string {
  let best = urls[0];
  let top = -1n;
  for (const url of urls) {
    const score = createHash('sha256').update(url).update('\0').update(key).digest().readBigUInt64BE(0);
    if (score > top) [best, top] = [url, score];
  }
  return best;
}

/**
 * Healthy instances from Consul (`/v1/health/service/<name>?passing`), followed with blocking
 * queries so changes arrive as they happen. A call with an idempotency key goes to the key's
 * instance (rendezvous hashing); others to the instance with the fewest calls in flight (round
 * robin among equals). While Consul cannot be reached, the static table answers.
 */
export function createConsulDiscovery(options: {
  address: string;
  fallback: Discovery;
  balance: 'round_robin' | 'least_inflight';
  log: FastifyBaseLogger;
  waitSeconds?: number;
}): ConsulDiscovery {
  const consul = consulClient(options.address);
  const healthy = new Map<string, string[]>();
  const inflight = new Map<string, number>();
  const turn = new Map<string, number>();
  let reachable = false;
  const firstAnswers = new Map<string, Promise<void>>();
  const watches = options.fallback.agents().map((agent) => {
    const query = { service: agent, passing: true, wait: `${options.waitSeconds ?? 30}s` };
    // The library calls `method` with the client as `this` itself.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const watch = consul.watch({ method: consul.health.service, options: query as never, backoffFactor: 100, backoffMax: 5_000 });
    firstAnswers.set(
      agent,
      new Promise((resolve) => {
        watch.once('change', () => resolve());
        watch.once('error', () => resolve());
      }),
    );
    watch.on('change', (entries: HealthEntry[]) => {
      reachable = true;
      const urls = entries.map((e) => `http://${e.Service.Address || e.Node.Address}:${e.Service.Port}`);
      const before = healthy.get(agent)?.join(',');
      healthy.set(agent, urls);
      if (before !== urls.join(',')) options.log.info({ agent, instances: urls }, 'consul: healthy instances changed');
    });
    watch.on('error', (err: Error) => {
      if (reachable) options.log.warn({ err: err.message }, 'consul cannot be reached; using the static table until it answers');
      reachable = false;
    });
    return watch;
  });

  function choose(agent: string, urls: string[], key: string | undefined): Instance {
    let url: string;
    if (key !== undefined) url = rendezvous(urls, key);
    else {
      let best = urls;
      if (options.balance === 'least_inflight') {
        const least = Math.min(...urls.map((u) => inflight.get(u) ?? 0));
        best = urls.filter((u) => (inflight.get(u) ?? 0) === least);
      }
      const n = turn.get(agent) ?? 0;
      turn.set(agent, n + 1);
      url = best[n % best.length]!;
    }
    inflight.set(url, (inflight.get(url) ?? 0) + 1);
    let released = false;
    return {
      url,
      release: () => {
        if (released) return;
        released = true;
        inflight.set(url, Math.max(0, (inflight.get(url) ?? 1) - 1));
      },
    };
  }

  return {
    kind: 'consul',
    agents: () => [...new Set([...options.fallback.agents(), ...healthy.keys()])],
    pick(agent, usable, key) {
      const urls = reachable ? healthy.get(agent) : undefined;
      if (urls === undefined) return options.fallback.pick(agent, usable, key);
      const candidates = usable ? urls.filter(usable) : urls;
      return candidates.length > 0 ? choose(agent, candidates, key) : undefined;
    },
    instances: (agent) => healthy.get(agent),
    async ready(timeoutMs = 2_000) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(firstAnswers.values()), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    },
    close() {
      for (const w of watches) w.end();
    },
  };
}
