import { request } from 'undici';

type Service = 'orchestrator' | 'knowledge';

/** What the gateway's tools call: the orchestrator's and the knowledge service's HTTP APIs. */
export interface PlatformClient {
  call(
    service: Service,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    extraHeaders?: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** The same client, sending this Authorization on every call. */
  as(authorization: string | undefined): PlatformClient;
}

export function createPlatformClient(
  urls: { orchestrator: string; knowledge: string | undefined },
  timeoutMs: number,
  headers: Record<string, string> = {},
): PlatformClient {
  return {
    async call(service, method, path, body, extraHeaders) {
      const base = urls[service];
      if (!base) return { status: 503, body: { code: 'AGENT_UNAVAILABLE', message: `no ${service} service is configured` } };
      try {
        const res = await request(base + path, {
          method,
          headers: { ...headers, ...extraHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await res.body.text();
        return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
      } catch (err) {
        return {
          status: 503,
          body: { code: 'AGENT_UNAVAILABLE', message: `${service} at ${base} cannot be reached: ${(err as Error).message}` },
        };
      }
    },
    as(authorization) {
      return authorization ? createPlatformClient(urls, timeoutMs, { ...headers, authorization }) : this;
    },
  };
}
