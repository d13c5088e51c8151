// Requests to the stack's public name through Caddy, as a client of the deployed API makes them: the
// stack test reaches Caddy on the 443 compose publishes, the deploy test on the droplet's forwarded
// port; each harness builds the dispatcher that trusts Caddy's internal CA and connects there.
import { type Agent, fetch, Headers, type RequestInit, type Response } from 'undici';

/** A name Caddy serves with its internal CA (any *.localhost is), so no ACME is attempted. */
export const DOMAIN = 'mesh.localhost';

export type CaddyRequest = RequestInit & { key?: string };

/**
 * The stack keeps the production rate limit per key (RATE_LIMIT_MAX, 10 a second), which a test
 * following several workflows at once exceeds; like a well-behaved client, it waits out the 429's
 * Retry-After and asks again, a bounded number of times.
 */
export async function caddyFetch(dispatcher: Agent, path: string, init: CaddyRequest = {}): Promise<Response> {
  const headers = new Headers(init.headers as Record<string, string> | undefined);
  if (init.key) headers.set('authorization', `Bearer ${init.key}`);
  if (init.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const signal = init.signal ?? AbortSignal.timeout(30_000);
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`https://${DOMAIN}${path}`, { ...init, headers, dispatcher, signal });
    if (res.status !== 429 || attempt === 10) return res;
    const seconds = Number(res.headers.get('retry-after'));
    await res.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 5) * 1000 : 1000));
  }
}

export async function caddyJson<T>(dispatcher: Agent, path: string, init: CaddyRequest = {}): Promise<{ status: number; body: T }> {
  const res = await caddyFetch(dispatcher, path, init);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
