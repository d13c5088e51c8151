/** The body of POST /execute on an agent (docs/AGENT_PROTOCOL.md). */
export interface AgentRequest {
  idempotency_key: string;
  task_id: string;
  step_id: string;
  attempt: number;
  input: Record<string, unknown>;
  context: { description?: string; dependencies: Record<string, unknown> };
  timeout_ms: number;
}

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
  call(agent: string, request: AgentRequest, signal: AbortSignal): Promise<AgentReply>;
  info(agent: string, signal: AbortSignal): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}
