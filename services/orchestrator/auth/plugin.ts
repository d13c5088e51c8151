import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { AppError } from '../../errors/index.ts';
import { bearerToken } from '../../http/index.ts';
import { allows, type ApiKeyStore, type Principal, type Scope } from '../../auth/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
    authError: AppError | undefined;
  }
  interface FastifyContextConfig {
    /** The scope a route needs; by default read for GET and HEAD, submit for the rest, admin under /admin; any: a valid key. */
    scope?: Scope | 'any';
  }
}

export interface AuthOptions {
  mode: 'off' | 'keys';
  keys: ApiKeyStore;
  rateLimit: { max: number; windowMs: number };
  /** Shared counters for every replica; in-process when absent. */
  redis?: Redis | undefined;
}

// Probes and scrapes carry no key and are never limited: an overloaded API must still say it is alive.
// The run viewer's files (/ui) are static and public; the API calls the page makes carry the key.
// Matched on the route's pattern, which Fastify has already found: no parsing of the URL per request.
const openRoutes = new Set(['/health', '/ready', '/metrics', '/ui', '/ui/*']);
const isOpen = (request: FastifyRequest): boolean => openRoutes.has(request.routeOptions.url ?? '');

function scopeOf(request: FastifyRequest): Scope | 'any' {
  const declared = request.routeOptions.config.scope;
  if (declared) return declared;
  if (request.routeOptions.url?.startsWith('/admin')) return 'admin';
  return request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'submit';
}

function bearer(request: FastifyRequest): string | undefined | AppError {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  return bearerToken(header) ?? new AppError('UNAUTHORIZED', 'Authorization header is not "Bearer <API key>"');
}

/**
 * API keys and rate limits for the public API, in three onRequest steps: who is asking (never
 * refusing yet), count the request against that client (a key, else the address, so a flood of
 * bad keys is limited too), then refuse what the key may not do. Admin routes want the admin
 * scope whatever API_AUTH says: with keys off they take ADMIN_API_KEY, and without it they are
 * closed (a key minted while auth was off would otherwise outlive the switch to keys).
 */
export const authPlugin = fp<AuthOptions>(
  async (app: FastifyInstance, opts) => {
    app.decorateRequest('principal', undefined);
    app.decorateRequest('authError', undefined);

    const checked = (request: FastifyRequest) => !isOpen(request) && (opts.mode === 'keys' || scopeOf(request) === 'admin');

    app.addHook('onRequest', async (request) => {
      if (!checked(request)) return;
      const presented = bearer(request);
      if (presented instanceof AppError) request.authError = presented;
      else if (presented === undefined)
        request.authError = new AppError('UNAUTHORIZED', 'this API needs an API key: send "Authorization: Bearer <key>"');
      else {
        try {
          request.principal = await opts.keys.verify(presented);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          request.authError = err;
        }
      }
    });

    if (opts.rateLimit.max > 0) {
      await app.register(rateLimit, {
        max: opts.rateLimit.max,
        timeWindow: opts.rateLimit.windowMs,
        keyGenerator: (request) => (request.principal ? `key:${request.principal.id}` : `ip:${request.ip}`),
        allowList: (request) => isOpen(request),
        ...(opts.redis ? { redis: opts.redis, nameSpace: 'mesh:ratelimit:' } : {}),
        // Redis down must not take the API down with it: requests then go unlimited.
        skipOnError: true,
        errorResponseBuilder: (_request, context) =>
          new AppError(
            'RATE_LIMITED',
            `more than ${context.max} requests per ${opts.rateLimit.windowMs} ms from this client; retry in ${context.after}`,
          ),
      });
    }

    // A route-level hook, added after the rate limiter's own (which is route-level too), so a
    // refused request has been counted first.
    const authorize = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (!checked(request)) return;
      if (opts.mode === 'off' && !opts.keys.hasAdminKey) {
        throw new AppError(
          'FORBIDDEN',
          'admin routes are closed: set ADMIN_API_KEY (and send it as "Authorization: Bearer <key>") to use them; with API_AUTH=keys every route needs a key',
        );
      }
      if (request.authError) {
        void reply.header('www-authenticate', 'Bearer realm="agentic-mesh"');
        throw request.authError;
      }
      const needed = scopeOf(request);
      if (needed !== 'any' && !allows(request.principal!, needed)) {
        throw new AppError(
          'FORBIDDEN',
          `API key ${request.principal!.id} (${request.principal!.name}) has scopes [${request.principal!.scopes.join(', ')}]; ${request.method} ${request.url.split('?')[0]} needs "${needed}"`,
        );
      }
    };
    app.addHook('onRoute', (route) => {
      const own = route.onRequest;
      route.onRequest = own === undefined ? [authorize] : [...(Array.isArray(own) ? own : [own]), authorize];
    });
  },
  { name: 'agentic-mesh-auth', dependencies: ['agentic-mesh-errors'] },
);
