// TEST DOUBLE of a Consul agent's HTTP API (no Consul binary can run here), built from Consul's
// documented contract for the endpoints the platform uses:
//   PUT /v1/agent/service/register      {ID, Name, Address, Port, Tags, Meta, Check: {HTTP, Interval, Timeout, DeregisterCriticalServiceAfter}}
//   PUT /v1/agent/service/deregister/:id
//   GET /v1/health/service/:name[?passing][&tag=T][&index=N&wait=5s]   blocking query, X-Consul-Index header
//   GET /v1/status/leader
// and, for Prometheus's consul_sd_configs (monitoring/prometheus/prometheus.yml):
//   GET /v1/agent/self (the datacenter), /v1/catalog/services, /v1/catalog/service/:name
// Like a real agent it runs each service's HTTP check at its interval, marks it passing (2xx) or
// critical, and removes a service that stays critical past DeregisterCriticalServiceAfter.
// Unlike Consul: one node ("double", datacenter dc1), no ACLs, KV, DNS or Raft, and the catalog is
// kept in memory only (a restart forgets every registration).
// It also runs outside vitest, as the hashicorp/consul stand-in image (tests/standins/consul/):
// hence vitest is imported only when a test is to stop it.
import Fastify from 'fastify';

interface Registered {
  id: string;
  name: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  check: { http: string; intervalMs: number; timeoutMs: number; deregisterAfterMs: number | undefined } | undefined;
  status: 'passing' | 'critical';
  criticalSince: number | undefined;
  timer: NodeJS.Timeout | undefined;
}

export interface ConsulDouble {
  /** As CONSUL_HTTP_ADDR takes it. */
  address: string;
  services(): Array<{ id: string; name: string; status: string }>;
  stop(): Promise<void>;
}

/** "10s", "500ms", "1m" → milliseconds, as Consul parses durations. */
export function durationMs(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/** Consul's JSON keys are case-insensitive on registration; clients send ID, Id or id. */
function field(obj: Record<string, unknown> | undefined, name: string): unknown {
  if (!obj) return undefined;
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

/**
 * Started inside a test it stops after the test; `{ cleanup: false }` (the chaos campaign, the
 * stand-in image) leaves stopping to the caller. It listens on 127.0.0.1 and a free port unless
 * told otherwise.
 */
export async function startConsulDouble(options: { cleanup?: boolean; host?: string; port?: number } = {}): Promise<ConsulDouble> {
  const app = Fastify({ logger: false });
  const services = new Map<string, Registered>();
  let index = 1;
  const waiters = new Set<() => void>();
  const changed = () => {
    index += 1;
    for (const w of waiters) w();
  };

  async function runCheck(s: Registered): Promise<void> {
    if (!s.check) return;
    let ok: boolean;
    try {
      const res = await fetch(s.check.http, { signal: AbortSignal.timeout(s.check.timeoutMs) });
      ok = res.status >= 200 && res.status < 300;
    } catch {
      ok = false;
    }
    if (!services.has(s.id)) return;
    const status = ok ? 'passing' : 'critical';
    if (status === 'critical') s.criticalSince ??= Date.now();
    else s.criticalSince = undefined;
    if (status !== s.status) {
      s.status = status;
      changed();
    }
    if (
      s.criticalSince !== undefined &&
      s.check.deregisterAfterMs !== undefined &&
      Date.now() - s.criticalSince >= s.check.deregisterAfterMs
    ) {
      remove(s.id);
      return;
    }
    s.timer = setTimeout(() => void runCheck(s), s.check.intervalMs);
  }

  function remove(id: string): boolean {
    const s = services.get(id);
    if (!s) return false;
    clearTimeout(s.timer);
    services.delete(id);
    changed();
    return true;
  }

  // Consul reads a request body as JSON whatever its Content-Type (curl --data sends a form type).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  const node = { Node: 'double', Address: '127.0.0.1', Datacenter: 'dc1' };

  /** Blocking query: with ?index=N at or past the current index, hold the answer until something changes or the wait runs out. */
  async function blockingWait(q: { index?: string; wait?: string }): Promise<void> {
    const wantIndex = q.index === undefined ? undefined : Number(q.index);
    if (wantIndex === undefined || wantIndex < index) return;
    const waitMs = Math.min(durationMs(q.wait) ?? 300_000, 600_000);
    await new Promise<void>((resolve) => {
      const done = () => {
        waiters.delete(done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      waiters.add(done);
    });
  }

  const hasTags = (s: Registered, tag: string | string[] | undefined): boolean =>
    (tag === undefined ? [] : Array.isArray(tag) ? tag : [tag]).every((t) => s.tags.includes(t));

  app.put('/v1/agent/service/register', async (req, reply) => {
    const body = req.body as Record<string, unknown>;
    const name = field(body, 'Name');
    if (typeof name !== 'string' || name === '') return reply.status(400).send('Missing service name');
    const id = String(field(body, 'ID') ?? name);
    const check = field(body, 'Check') as Record<string, unknown> | undefined;
    const http = field(check, 'HTTP');
    const interval = durationMs(field(check, 'Interval') as string | undefined);
    if (check && typeof http === 'string' && interval === undefined) return reply.status(400).send('Interval required for HTTP check');
    remove(id);
    const s: Registered = {
      id,
      name,
      address: String(field(body, 'Address') ?? '127.0.0.1'),
      port: Number(field(body, 'Port') ?? 0),
      tags: (field(body, 'Tags') as string[] | undefined) ?? [],
      meta: (field(body, 'Meta') as Record<string, string> | undefined) ?? {},
      check:
        typeof http === 'string'
          ? {
              http,
              intervalMs: interval!,
              timeoutMs: durationMs(field(check, 'Timeout') as string | undefined) ?? 10_000,
              deregisterAfterMs: durationMs(field(check, 'DeregisterCriticalServiceAfter') as string | undefined),
            }
          : undefined,
      // Consul starts HTTP-checked services critical until their first check passes.
      status: typeof http === 'string' ? 'critical' : 'passing',
      criticalSince: undefined,
      timer: undefined,
    };
    services.set(id, s);
    changed();
    void runCheck(s);
    return reply.status(200).send('');
  });

  app.put('/v1/agent/service/deregister/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!remove(id)) return reply.status(404).send(`Unknown service ID "${id}"`);
    return reply.status(200).send('');
  });

  app.get('/v1/health/service/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const q = req.query as { passing?: string; index?: string; wait?: string; tag?: string | string[] };
    await blockingWait(q);
    const passingOnly = q.passing !== undefined && q.passing !== 'false';
    const list = [...services.values()].filter((s) => s.name === name && (!passingOnly || s.status === 'passing') && hasTags(s, q.tag));
    void reply.header('x-consul-index', String(index));
    return list.map((s) => ({
      Node: node,
      Service: { ID: s.id, Service: s.name, Tags: s.tags, Address: s.address, Port: s.port, Meta: s.meta },
      Checks: [
        {
          Node: 'double',
          CheckID: `service:${s.id}`,
          Name: `Service '${s.name}' check`,
          Status: s.status,
          ServiceID: s.id,
          ServiceName: s.name,
        },
      ],
    }));
  });

  app.get('/v1/catalog/services', async (req, reply) => {
    await blockingWait(req.query as { index?: string; wait?: string });
    const byName: Record<string, string[]> = {};
    for (const s of services.values()) byName[s.name] = [...new Set([...(byName[s.name] ?? []), ...s.tags])];
    void reply.header('x-consul-index', String(index));
    return byName;
  });

  app.get('/v1/catalog/service/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const q = req.query as { index?: string; wait?: string; tag?: string | string[] };
    await blockingWait(q);
    void reply.header('x-consul-index', String(index));
    return [...services.values()]
      .filter((s) => s.name === name && hasTags(s, q.tag))
      .map((s) => ({
        ID: '',
        Node: node.Node,
        Address: node.Address,
        Datacenter: node.Datacenter,
        TaggedAddresses: {},
        NodeMeta: {},
        ServiceID: s.id,
        ServiceName: s.name,
        ServiceAddress: s.address,
        ServicePort: s.port,
        ServiceTags: s.tags,
        ServiceMeta: s.meta,
      }));
  });

  app.get('/v1/agent/self', async () => ({ Config: { Datacenter: node.Datacenter, NodeName: node.Node }, Member: { Name: node.Node } }));

  app.get('/v1/status/leader', async () => '"127.0.0.1:8300"');

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('not listening');
  const url = `http://${options.host === undefined || options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${addr.port}`;
  const stop = async () => {
    for (const s of services.values()) clearTimeout(s.timer);
    for (const w of waiters) w();
    await app.close();
  };
  if (options.cleanup !== false) (await import('vitest')).onTestFinished(stop);
  return { address: url, services: () => [...services.values()].map((s) => ({ id: s.id, name: s.name, status: s.status })), stop };
}
