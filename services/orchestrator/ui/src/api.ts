import type { TaskStatus } from './types.ts';

const keyName = 'agentic-mesh.api-key';

/** An API answer other than 2xx, with the API's own code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

type Listener = (message: string) => void;
let unauthorized: Listener = () => {};

/** Who hears that the API wants a key (or a better one): the key form. */
export function onUnauthorized(listener: Listener): void {
  unauthorized = listener;
}

/** Any call the API answered 401 (the event stream too): the page asks for a key. */
export function reportUnauthorized(message: string): void {
  unauthorized(message);
}

// The key lives for this tab only: sessionStorage, never a cookie, never localStorage.
export const apiKey = {
  get: (): string | null => sessionStorage.getItem(keyName),
  set: (key: string) => sessionStorage.setItem(keyName, key),
  clear: () => sessionStorage.removeItem(keyName),
};

export function authHeaders(): Record<string, string> {
  const key = apiKey.get();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** Reads an error answer: the API's `{code, message}` when it sent one. */
export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { code?: string; message?: string };
    return new ApiError(res.status, body.code ?? String(res.status), body.message ?? (text || res.statusText));
  } catch {
    return new ApiError(res.status, String(res.status), text || res.statusText);
  }
}

export async function api<T>(
  path: string,
  options: { method?: 'GET' | 'POST' | 'PATCH' | 'DELETE'; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders() };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401) reportUnauthorized(err.message);
    throw err;
  }
  return (await res.json()) as T;
}

export const post = <T>(path: string, body: unknown = {}) => api<T>(path, { method: 'POST', body });

export function tasksQuery(options: {
  status?: TaskStatus | '';
  q?: string;
  schedule?: string | null;
  cursor?: string | null;
  limit?: number;
}): string {
  const params = new URLSearchParams({ limit: String(options.limit ?? 20) });
  if (options.status) params.set('status', options.status);
  if (options.q?.trim()) params.set('q', options.q.trim());
  if (options.schedule) params.set('schedule', options.schedule);
  if (options.cursor) params.set('cursor', options.cursor);
  return `/tasks?${params.toString()}`;
}

/** A form's JSON input: empty is {}, anything but an object is refused with what to write. */
export function parseInput(text: string): Record<string, unknown> {
  if (!text.trim()) return {};
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('input must be a JSON object, e.g. {"spec": "…"}');
  return value as Record<string, unknown>;
}

export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
