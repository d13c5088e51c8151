import { AppError, errorFromSerialized, type SerializedError } from '../../errors/index.ts';
import type { AgentReply } from './types.ts';

/** An agent's answer, whatever carried it, as a reply or the error it describes. */
export function replyFrom(statusCode: number, body: Record<string, unknown>, replayed: boolean, via: string): AgentReply {
  if (statusCode === 200 && body.status === 'succeeded') {
    const decision = body.decision === 'approved' || body.decision === 'rejected' ? body.decision : undefined;
    return {
      output: (body.output ?? {}) as Record<string, unknown>,
      ...(decision ? { decision } : {}),
      ...(typeof body.duration_ms === 'number' ? { durationMs: body.duration_ms } : {}),
      replayed,
    };
  }
  const failure = body.failure as SerializedError | undefined;
  if (failure && typeof failure.code === 'string') throw errorFromSerialized(failure);
  const agent = typeof body.agent === 'string' ? body.agent : 'agent';
  const message = typeof body.message === 'string' ? body.message : `status ${statusCode}`;
  const retryable = statusCode >= 500 || statusCode === 429;
  throw new AppError(retryable ? 'AGENT_ERROR' : 'AGENT_TASK_FAILED', `${agent} answered ${statusCode} over ${via}: ${message}`, {
    retryable,
  });
}
