import { AppError, errorFromSerialized, type SerializedError } from '../../errors/index.ts';
import { usageFrom, type Usage } from '../usage.ts';
import type { AgentReply } from './types.ts';

/** What a failed attempt spent, kept beside the error it is thrown as (an error is not the place for a ledger entry). */
const failedUsage = new WeakMap<object, Usage>();

/** The models' usage a failed answer reported, if the error came from one. */
export function usageOfError(err: unknown): Usage | undefined {
  return typeof err === 'object' && err !== null ? failedUsage.get(err) : undefined;
}

/** An agent's answer, whatever carried it, as a reply or the error it describes. */
export function replyFrom(statusCode: number, body: Record<string, unknown>, replayed: boolean, via: string): AgentReply {
  const usage = usageFrom(body.usage);
  if (statusCode === 200 && body.status === 'succeeded') {
    const decision = body.decision === 'approved' || body.decision === 'rejected' ? body.decision : undefined;
    return {
      output: (body.output ?? {}) as Record<string, unknown>,
      ...(decision ? { decision } : {}),
      ...(typeof body.duration_ms === 'number' ? { durationMs: body.duration_ms } : {}),
      ...(usage ? { usage } : {}),
      replayed,
    };
  }
  const failure = body.failure as SerializedError | undefined;
  if (failure && typeof failure.code === 'string') {
    const err = errorFromSerialized(failure);
    if (usage) failedUsage.set(err, usage);
    throw err;
  }
  const agent = typeof body.agent === 'string' ? body.agent : 'agent';
  const message = typeof body.message === 'string' ? body.message : `status ${statusCode}`;
  const retryable = statusCode >= 500 || statusCode === 429;
  throw new AppError(retryable ? 'AGENT_ERROR' : 'AGENT_TASK_FAILED', `${agent} answered ${statusCode} over ${via}: ${message}`, {
    retryable,
  });
}
