import { EventSourceParserStream } from 'eventsource-parser/stream';
import { authHeaders, errorOf, reportUnauthorized } from './api.ts';

export interface TaskEvent {
  id?: number;
  task_id: string;
  type: string;
  step_id: string | null;
  attempt: number | null;
  data: unknown;
  created_at: string;
}

/**
 * Follows GET /tasks/:id/events over fetch (EventSource cannot send the Authorization header).
 * When the stream ends before the task has, it reconnects with Last-Event-ID: the durable events
 * missed come again; progress events have no id and are not replayed.
 */
export function followTask(
  id: string,
  handlers: { onEvent: (e: TaskEvent) => void; onError: (message: string, status?: number) => void; isFinished: () => boolean },
): () => void {
  const controller = new AbortController();
  let lastId: string | undefined;
  let failures = 0;

  const connect = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        const res = await fetch(`/tasks/${id}/events`, {
          headers: { accept: 'text/event-stream', ...authHeaders(), ...(lastId ? { 'last-event-id': lastId } : {}) },
          signal: controller.signal,
        });
        if (!res.ok || !res.body) {
          const err = await errorOf(res);
          if (err.status === 401) reportUnauthorized(err.message);
          else handlers.onError(err.message, err.status);
          return;
        }
        failures = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (value.id) lastId = value.id;
          handlers.onEvent(JSON.parse(value.data) as TaskEvent);
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        failures++;
        if (failures > 5) {
          handlers.onError(`the live stream keeps dropping: ${(err as Error).message}`);
          return;
        }
      }
      if (handlers.isFinished()) return;
      // Ended early (a proxy's timeout, a restart): wait a little, then pick up where it stopped.
      await new Promise((resolve) => setTimeout(resolve, Math.min(1_000 * 2 ** failures, 10_000)));
    }
  };
  void connect();
  return () => controller.abort();
}
