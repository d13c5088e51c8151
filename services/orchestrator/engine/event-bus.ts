import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import type { Queryable } from '../../state/index.ts';

/**
 * Tells local listeners (SSE streams, waiters) that a workflow has new events. It carries no
 * payload: readers fetch from the log, so every replica reads the same history. The engine tells
 * it of its own commits at once; for workflows other replicas run, one poll per process (one query
 * a second for every workflow anyone here listens to, whatever the number of listeners) compares
 * each workflow's event count with what was last seen.
 */
export class WorkflowNotifier {
  private readonly emitter = new EventEmitter();
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  notify(workflowId: string): void {
    this.emitter.emit(workflowId);
  }

  subscribe(workflowId: string, listener: () => void): () => void {
    this.emitter.on(workflowId, listener);
    return () => {
      this.emitter.off(workflowId, listener);
      if (this.emitter.listenerCount(workflowId) === 0) this.seen.delete(workflowId);
    };
  }

  /** Starts the shared poll for other replicas' workflows. */
  watchRemote(db: Queryable, log: FastifyBaseLogger, intervalMs = 1_000): void {
    this.timer ??= setInterval(() => void this.poll(db, log), intervalMs).unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(db: Queryable, log: FastifyBaseLogger): Promise<void> {
    const ids = this.emitter.eventNames().filter((n): n is string => typeof n === 'string');
    if (this.polling || ids.length === 0) return;
    this.polling = true;
    try {
      const rows = await db.query<{ id: string; event_seq: number }>('SELECT id, event_seq FROM workflows WHERE id = ANY($1::uuid[])', [
        ids,
      ]);
      for (const r of rows) {
        const before = this.seen.get(r.id);
        this.seen.set(r.id, r.event_seq);
        // First sight of a workflow: its listeners may have read it before events came that this
        // poll's count already includes, so they look once (a read that finds nothing is cheap).
        if (before === undefined || r.event_seq > before) this.notify(r.id);
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'event poll failed; trying again');
    } finally {
      this.polling = false;
    }
  }
}
