import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { checkCaller, type Principal } from '../auth/index.ts';
import { AppError } from '../errors/index.ts';
import type { PlatformClient } from './platform-client.ts';

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]', '::1'];

/** The host name of a Host header, without its port. */
function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  return host.split(':')[0].toLowerCase();
}

/**
 * Who may use the gateway. Against DNS rebinding (which the MCP spec asks local servers to guard
 * against): the Host must be loopback or one of `allowedHosts`, and a browser's Origin one of
 * `allowedOrigins`. With an internal token set (every deployment), a caller shows it or an API key
 * the orchestrator accepts (asked once per key per 10 s); the key then goes on with each tool call,
 * so a tool can do exactly what that key may.
 */
export function gatewayDoor(o: {
  internalToken: string | undefined;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  platform: PlatformClient;
}) {
  const hosts = new Set([...LOOPBACK, ...o.allowedHosts.map((h) => h.toLowerCase())]);
  const origins = new Set(o.allowedOrigins);
  const verified = new Map<string, { at: number; principal: Principal | AppError }>();

  async function verify(authorization: string): Promise<Principal> {
    const hash = createHash('sha256').update(authorization).digest('hex');
    const cached = verified.get(hash);
    let principal = cached && Date.now() - cached.at < 10_000 ? cached.principal : undefined;
    if (!principal) {
      const res = await o.platform.as(authorization).call('orchestrator', 'GET', '/auth/key');
      principal =
        res.status === 200
          ? (res.body.principal as Principal)
          : new AppError(
              res.status === 403 ? 'FORBIDDEN' : res.status === 401 ? 'UNAUTHORIZED' : 'AGENT_UNAVAILABLE',
              String(res.body.message ?? `the orchestrator answered ${res.status}`),
            );
      if (verified.size >= 10_000) verified.delete(verified.keys().next().value!);
      verified.set(hash, { at: Date.now(), principal });
    }
    if (principal instanceof AppError) throw principal;
    return principal;
  }

  return async (request: FastifyRequest): Promise<void> => {
    const host = request.headers.host ?? '';
    if (!hosts.has(hostname(host))) {
      throw new AppError('FORBIDDEN', `this MCP gateway does not answer for Host "${host}"; add it to MCP_ALLOWED_HOSTS if it is yours`);
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !origins.has(origin)) {
      throw new AppError('FORBIDDEN', `requests from Origin "${origin}" are refused; add it to MCP_ALLOWED_ORIGINS if it is yours`);
    }
    if (!o.internalToken) return;
    await checkCaller(request.headers.authorization, {
      service: 'the MCP gateway',
      internalToken: o.internalToken,
      needed: 'read',
      verify,
    });
  };
}
