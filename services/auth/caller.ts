import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors/index.ts';
import { bearerToken } from '../http/index.ts';
import { allows, type ApiKeyStore, type Principal, type Scope } from './api-keys.ts';

/** Who may call an internal service: the platform's own processes, or someone with a key. */
export type Caller = { kind: 'internal' } | { kind: 'key'; principal: Principal };

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The caller of a service behind the orchestrator (knowledge, the MCP gateway): the platform's own
 * processes show INTERNAL_TOKEN; anyone else an API key with `needed` (checked by `keys`, or by
 * `verify` where the service has no database). Throws UNAUTHORIZED or FORBIDDEN saying why.
 */
export async function checkCaller(
  authorization: unknown,
  o: {
    service: string;
    internalToken: string;
    needed: Scope;
    keys?: ApiKeyStore | undefined;
    verify?: ((authorization: string) => Promise<Principal>) | undefined;
  },
): Promise<Caller> {
  const presented = bearerToken(authorization);
  if (!presented)
    throw new AppError('UNAUTHORIZED', `${o.service} wants "Authorization: Bearer <API key>" (or the platform's internal token)`);
  // Digests are compared, so the time taken says nothing about the token, whatever the length presented.
  if (timingSafeEqual(digest(presented), digest(o.internalToken))) return { kind: 'internal' };
  const principal = o.keys ? await o.keys.verify(presented) : o.verify ? await o.verify(`Bearer ${presented}`) : undefined;
  if (!principal) throw new AppError('UNAUTHORIZED', 'API key not valid');
  if (!allows(principal, o.needed)) {
    throw new AppError(
      'FORBIDDEN',
      `API key ${principal.id} (${principal.name}) has scopes [${principal.scopes.join(', ')}]; ${o.service} needs "${o.needed}" here`,
    );
  }
  return { kind: 'key', principal };
}
