// A thin client of the orchestrator API for the CLI.
import { readFile } from 'node:fs/promises';

/** The JSON file a flag names (--plan plan.json), or an error saying which flag and what is wrong. */
export async function jsonFile(flag: string, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`--${flag} ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`--${flag} ${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    super(typeof body.message === 'string' ? `${String(body.code ?? status)}: ${body.message}` : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

let authorization: Record<string, string> = {};

/** The API key (API_KEY) every later call sends. */
export function useApiKey(key: string | undefined): void {
  authorization = key ? { authorization: `Bearer ${key}` } : {};
}

export async function api(
  baseUrl: string,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  return (await send(baseUrl, method, path, body)).body;
}

async function send(
  baseUrl: string,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ body: Record<string, unknown>; headers: Headers }> {
  let res: Response;
  try {
    res = await fetch(baseUrl + path, {
      method,
      headers: { ...authorization, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new Error(
      `cannot reach the orchestrator at ${baseUrl} (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}); is it running? (npm start)`,
      { cause: err },
    );
  }
  const text = await res.text();
  const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!res.ok) throw new ApiError(res.status, json);
  return { body: json, headers: res.headers };
}

const TRANSIENT = new Set([502, 503, 504]);

/**
 * POST /orchestrate (or a fork) under an Idempotency-Key, sent again when the orchestrator could not
 * be reached or answered 502-504: the key makes the retry return the task the first attempt made, if it did.
 */
export async function submit(
  baseUrl: string,
  body: Record<string, unknown>,
  idempotencyKey: string,
  attempts = 4,
  path = '/orchestrate',
): Promise<{ body: Record<string, unknown>; replayed: boolean }> {
  for (let i = 1; ; i++) {
    try {
      const res = await send(baseUrl, 'POST', path, body, { 'idempotency-key': idempotencyKey });
      return { body: res.body, replayed: res.headers.get('idempotent-replayed') === 'true' };
    } catch (err) {
      const transient = err instanceof ApiError ? TRANSIENT.has(err.status) : true;
      if (!transient || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 250 * 2 ** i));
    }
  }
}

export interface SseEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

/** Reads a text/event-stream until it ends, yielding each event. */
export async function* followEvents(baseUrl: string, taskId: string, signal?: AbortSignal): AsyncGenerator<SseEvent> {
  const res = await fetch(`${baseUrl}/tasks/${taskId}/events`, {
    headers: { ...authorization, accept: 'text/event-stream' },
    ...(signal ? { signal } : {}),
  });
  if (!res.ok || !res.body) throw new ApiError(res.status, (await res.json().catch(() => ({}))) as Record<string, unknown>);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        if (i > 0) fields[line.slice(0, i)] = (fields[line.slice(0, i)] ?? '') + line.slice(i + 1).trimStart();
      }
      if (fields.data)
        yield { id: fields.id ?? '', event: fields.event ?? 'message', data: JSON.parse(fields.data) as Record<string, unknown> };
    }
  }
}
