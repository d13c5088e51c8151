import type { IncomingMessage, RequestListener, ServerResponse, Server } from 'node:http';
import { AppError } from '../errors/index.ts';
import { errorBody } from './error-handler.ts';
import { createServiceServer } from './server-options.ts';
import { serverUrl } from './server-url.ts';

export interface EarlyServer {
  readonly server: Server;
  readonly url: string;
  /** Keeps the app's handler (Fastify's serverFactory): the app is built around this listening server. */
  adopt(handler: RequestListener): Server;
  /** From now on every request goes to the app; call it once the app is ready. */
  open(): void;
  close(): Promise<void>;
}

/**
 * A service's port, open before the service is built. Until open(), GET /health answers 200
 * `{"status": "starting"}` (the process is alive and coming up), /ready and everything else a 503
 * STARTING with Retry-After: 1. `npm start` opens the orchestrator's port this way before the
 * database opens, so a probe, a client or a second `npm start` learns at once that it is starting
 * (or that the port is taken) instead of finding nothing there for two seconds.
 */
export async function listenEarly(host: string, port: number, service: string): Promise<EarlyServer> {
  let app: RequestListener | undefined;
  let adopted: RequestListener | undefined;
  const server = createServiceServer((req, res) => (app ? app(req, res) : starting(service, req, res)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    url: serverUrl(server),
    adopt(handler) {
      adopted = handler;
      return server;
    },
    open() {
      if (!adopted) throw new Error(`${service}: open() before an app adopted the early server`);
      app = adopted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function starting(service: string, req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://starting').pathname;
  const head = req.method === 'HEAD';
  const alive = path === '/health' && (req.method === 'GET' || head);
  const body = alive
    ? JSON.stringify({ status: 'starting' })
    : JSON.stringify(errorBody(new AppError('STARTING', `the ${service} is starting; try again in a moment`)));
  res.writeHead(alive ? 200 : 503, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(alive ? {} : { 'retry-after': '1' }),
  });
  res.end(head ? undefined : body);
}
