import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors/index.ts';
import { errorBody } from './error-handler.ts';
import { serverUrl } from './server-url.ts';

export interface OpsListenOptions {
  host: string;
  /** Serve GET /health and GET /ready here too (Kubernetes probes). */
  healthPort?: number | undefined;
  /** Serve GET /metrics here too (Prometheus scrapes). */
  metricsPort?: number | undefined;
}

export interface OpsListeners {
  healthUrl: string | undefined;
  metricsUrl: string | undefined;
  /** "health http://…, metrics http://…" for the role's announce line; empty when none were asked for. */
  describe(): string;
  close(): Promise<void>;
}

const HEALTH_PATHS = ['/health', '/ready'];
const METRICS_PATHS = ['/metrics'];

/**
 * Extra listeners that answer a role's /health, /ready and /metrics on ports of their own, so a
 * probe or a scrape never shares a port with the API (and never needs the API's auth or ingress).
 * Each request is passed to the role's own app through inject(): the answer comes from the same
 * readiness check and the same prom-client registry as on the main port, with no second copy.
 * When both ports are the same number, one listener serves all three paths.
 */
export async function startOpsListeners(app: FastifyInstance, options: OpsListenOptions): Promise<OpsListeners> {
  const wanted = new Map<number, string[]>();
  const add = (port: number | undefined, paths: string[]) => {
    if (port === undefined) return;
    // Port 0 twice means two listeners on two free ports, not one shared one.
    const key = port === 0 ? -wanted.size - 1 : port;
    wanted.set(key, [...(wanted.get(key) ?? []), ...paths]);
  };
  add(options.healthPort, HEALTH_PATHS);
  add(options.metricsPort, METRICS_PATHS);

  const servers: Array<{ server: Server; paths: string[]; url: string }> = [];
  const close = async () => {
    await Promise.all(
      servers.map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            // Probes and scrapers keep connections alive; close() would otherwise wait for them.
            server.closeAllConnections();
          }),
      ),
    );
  };
  try {
    for (const [key, paths] of wanted) {
      const server = createServer((req, res) => void answer(app, paths, req, res));
      const port = key < 0 ? 0 : key;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: options.host, port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push({ server, paths, url: serverUrl(server) });
    }
  } catch (err) {
    await close();
    throw err;
  }
  const urlFor = (path: string) => servers.find((s) => s.paths.includes(path))?.url;
  const healthUrl = urlFor('/health');
  const metricsUrl = urlFor('/metrics');
  return {
    healthUrl,
    metricsUrl,
    describe: () => [healthUrl ? `health ${healthUrl}` : '', metricsUrl ? `metrics ${metricsUrl}` : ''].filter(Boolean).join(', '),
    close,
  };
}

async function answer(app: FastifyInstance, paths: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://ops').pathname;
  const head = req.method === 'HEAD';
  if ((req.method !== 'GET' && !head) || !paths.includes(path)) {
    sendError(
      res,
      new AppError('ROUTE_NOT_FOUND', `${req.method} ${path} is not served on this port; it serves GET ${paths.join(', ')}`),
      head,
    );
    return;
  }
  try {
    const reply = await app.inject({ method: 'GET', url: path, headers: req.headers.accept ? { accept: req.headers.accept } : {} });
    send(res, reply.statusCode, String(reply.headers['content-type'] ?? 'text/plain'), reply.body, head);
  } catch (err) {
    // inject() refuses once the app has begun closing. The process is still alive, finishing the
    // calls in flight, but must get no new traffic: alive, not ready.
    if ((err as { code?: string }).code === 'FST_ERR_REOPENED_CLOSE_SERVER') {
      if (path === '/health') send(res, 200, JSON_TYPE, JSON.stringify({ status: 'ok' }), head);
      else send(res, 503, JSON_TYPE, JSON.stringify({ status: 'shutting_down' }), head);
      return;
    }
    sendError(res, new AppError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err }), head);
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';

function sendError(res: ServerResponse, err: AppError, head: boolean): void {
  send(res, err.statusCode, JSON_TYPE, JSON.stringify(errorBody(err)), head);
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}
