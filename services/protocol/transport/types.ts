import type { CheckRequest, CheckVerdict } from '../check.ts';
import type { ExecuteRequest } from '../messages.ts';
import type { ProgressData } from '../progress.ts';
import type { Usage } from '../usage.ts';

/** Hears an agent's progress; each chunk has been checked to be ProgressData. */
export type OnProgress = (data: ProgressData) => void;

/** A successful answer as the caller reads it; failures are thrown (reply.ts). */
export interface AgentReply {
  output: Record<string, unknown>;
  decision?: 'approved' | 'rejected';
  durationMs?: number;
  /** The models the attempt called; a replayed answer carries the figures of the run it replays. */
  usage?: Usage;
  replayed: boolean;
}

/**
 * One way of reaching agents. Failures are thrown as AppError; `retryable` says whether the same
 * call may succeed later (unreachable, 5xx, timeout) or not (the agent rejected the task).
 */
export interface AgentTransport {
  readonly name: string;
  /**
   * One step attempt. `onProgress`, when given, hears the agent's progress as it comes (over the
   * streamed form of each carrier), before the answer; an agent that reports none answers as always.
   */
  call(agent: string, request: ExecuteRequest, signal: AbortSignal, onProgress?: OnProgress): Promise<AgentReply>;
  info(agent: string, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** The planner's dry run (POST /check), over HTTP whatever carries the agent's calls, like /info; absent where unsupported. */
  check?(agent: string, request: CheckRequest, signal: AbortSignal): Promise<CheckVerdict>;
  close(): Promise<void>;
}
