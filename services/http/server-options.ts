import { createServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyHttpOptions, FastifyReply } from 'fastify';
import { AppError, type ErrorCode } from '../errors/index.ts';
import { serverLogOptions } from '../telemetry/index.ts';
import type { EarlyServer } from './early-server.ts';
import { errorBody } from './error-handler.ts';

export interface ServerOptions {
  /** A port opened before the app was built (early-server.ts): the app takes it over. */
  early?: EarlyServer;
  logLevel: string;
  bodyLimit: number;
  /** Addresses or CIDRs of the proxies whose X-Forwarded-For is believed. */
  trustProxy?: readonly string[];
}

// How long a client may take: to send its headers, its whole request, and to keep an idle
// connection. Slow or silent clients are cut off instead of holding a socket for minutes.
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** An HTTP server with the services' timeouts. */
export function createServiceServer(handler?: RequestListener): Server {
  return createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 },
    handler,
  );
}

/**
 * Fastify options every service uses: its logger, body limit, timeouts, and the one error shape
 * ({statusCode, code, error, message}) also for what is refused before a route runs: a malformed
 * URL or request, a parameter or headers too long, a client too slow.
 */
export function serverOptions(service: string, o: ServerOptions): FastifyHttpOptions<Server> {
  return {
    ...serverLogOptions(o.logLevel, service),
    bodyLimit: o.bodyLimit,
    ...(o.trustProxy && o.trustProxy.length > 0 ? { trustProxy: [...o.trustProxy] } : {}),
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Node checks these timeouts every connectionsCheckingInterval (30 s by default): every second here.
    serverFactory: (handler) => (o.early ? o.early.adopt(handler) : createServiceServer(handler)),
    frameworkErrors(error: FastifyError, _request, reply) {
      const err =
        error.code === 'FST_ERR_BAD_URL'
          ? new AppError('BAD_URL', `${error.message}: the path has a malformed percent-encoding`)
          : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? new AppError('URI_TOO_LONG', 'a path parameter is longer than 100 characters')
            : new AppError('INTERNAL', 'internal error', { cause: error });
      void (reply as unknown as FastifyReply).status(err.statusCode).send(errorBody(err));
    },
    clientErrorHandler(error: Error & { code?: string }, socket: Socket) {
      if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return void socket.destroy();
      const [code, message]: [ErrorCode, string] =
        error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [
              'REQUEST_TIMEOUT',
              `the request was not received within ${REQUEST_TIMEOUT_MS / 1000} s (headers within ${HEADERS_TIMEOUT_MS / 1000} s)`,
            ]
          : error.code === 'HPE_HEADER_OVERFLOW'
            ? ['HEADERS_TOO_LARGE', 'the request headers are larger than allowed']
            : ['BAD_REQUEST', `malformed HTTP request (${error.code ?? error.message})`];
      const err = new AppError(code, message);
      const body = JSON.stringify(errorBody(err));
      socket.end(
        `HTTP/1.1 ${err.statusCode} ${STATUS_CODES[err.statusCode] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  };
}
