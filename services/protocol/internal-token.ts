import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors/index.ts';
import { bearerToken } from '../http/index.ts';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Checks the Authorization value of a call (HTTP header or gRPC metadata) against INTERNAL_TOKEN;
 * without a configured token every call passes. Digests are compared so the time taken says
 * nothing about the token, whatever the length presented.
 */
export function requireInternalToken(authorization: unknown, token: string | undefined, agent: string): void {
  if (!token) return;
  const presented = bearerToken(authorization);
  if (!presented)
    throw new AppError('UNAUTHORIZED', `agent ${agent} takes calls only with the internal token (Authorization: Bearer <INTERNAL_TOKEN>)`);
  if (!timingSafeEqual(digest(presented), digest(token)))
    throw new AppError('UNAUTHORIZED', `agent ${agent} refused the internal token: it differs from this agent's INTERNAL_TOKEN`);
}

/** The header (or metadata) value a caller sends. */
export const internalAuthorization = (token: string): string => `Bearer ${token}`;
