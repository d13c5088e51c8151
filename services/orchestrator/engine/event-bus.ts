import { EventEmitter } from 'node:events';

/**
 * Tells local listeners (SSE streams, waiters) that a workflow has new rows in workflow_events.
 * It carries no payload: readers fetch from the table, so every replica reads the same history.
 */
export class WorkflowNotifier {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  notify(workflowId: string): void {
    this.emitter.emit(workflowId);
  }

  subscribe(workflowId: string, listener: () => void): () => void {
    this.emitter.on(workflowId, listener);
    return () => this.emitter.off(workflowId, listener);
  }
}
