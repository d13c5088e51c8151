import { createParser } from 'eventsource-parser';
import { onTestFinished } from 'vitest';

export interface SseEvent {
  /** undefined when the event came without an `id:` line. */
  id: string | undefined;
  event: string | undefined;
  data: Record<string, unknown>;
}

/** Reads a server-sent event stream into `events` as they come; `ended` settles when the server ends it. */
export async function openEventStream(
  url: string,
  options: { lastEventId?: string; headers?: Record<string, string> } = {},
): Promise<{ events: SseEvent[]; ended: Promise<void> }> {
  const ac = new AbortController();
  onTestFinished(() => ac.abort());
  const res = await fetch(url, {
    signal: ac.signal,
    headers: { accept: 'text/event-stream', ...options.headers, ...(options.lastEventId ? { 'last-event-id': options.lastEventId } : {}) },
  });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent: (e) => events.push({ id: e.id, event: e.event, data: JSON.parse(e.data) as Record<string, unknown> }),
  });
  const decoder = new TextDecoder();
  const ended = (async () => {
    for await (const chunk of res.body!) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
  })();
  ended.catch(() => {});
  return { events, ended };
}
