import type { ExecuteRequest } from '../messages.ts';

/** A successful answer as the caller reads it; failures are thrown (reply.ts). */
export interface AgentReply {
  output: Record<string, unknown>;
  decision?: 'approved' | 'rejected';
  durationMs?: number;
  replayed: boolean;
}

/**
 * One way of reaching agents. Failures are thrown as AppError; `retryable` says whether the same
 * call may succeed later (unreachable, 5xx, timeout) or not (the agent rejected the task).
 */
export interface AgentTransport {
  readonly name: string;
  call(agent: string, request: ExecuteRequest, signal: AbortSignal): Promise<AgentReply>;
  info(agent: string, signal: AbortSignal): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}
