import { createHash } from 'node:crypto';
import { AppError } from '../errors/index.ts';
import { canonicalJson } from '../protocol/index.ts';
import { isTaskId } from './context.ts';

/** What makes a POST /orchestrate idempotent: the client's key or task id, and the request's fingerprint. */
export interface SubmitIdentity {
  key: string | undefined;
  /** The client's task id, lower-cased as Postgres prints UUIDs. */
  taskId: string | undefined;
  /** Set when the request can be retried (it has a key or a task id). */
  requestHash: string | undefined;
}

interface SubmitBody {
  task_id?: string | undefined;
  description?: string | undefined;
  plan?: unknown;
  workflow?: string | undefined;
  input?: Record<string, unknown> | undefined;
  execute?: boolean | undefined;
  budget?: unknown;
  run_at?: string | undefined;
  delay?: string | undefined;
  concurrency?: unknown;
  rate_limit?: unknown;
  priority?: number | undefined;
}

const KEY = /^[\x21-\x7E]{1,255}$/;

/**
 * Checks the key and the task id, and fingerprints what the workflow is made of. `wait` is left out:
 * it changes how the answer comes, not what runs, so a client may retry a timed-out wait without it.
 */
export function submitIdentity(header: string | string[] | undefined, body: SubmitBody): SubmitIdentity {
  if (Array.isArray(header)) throw new AppError('VALIDATION_FAILED', 'send one Idempotency-Key header, not several');
  if (header !== undefined && !KEY.test(header)) {
    throw new AppError(
      'VALIDATION_FAILED',
      `Idempotency-Key must be 1-255 visible ASCII characters (no spaces), got ${JSON.stringify(header.slice(0, 40))}${header.length > 40 ? '...' : ''}`,
    );
  }
  if (body.task_id !== undefined && !isTaskId(body.task_id)) {
    throw new AppError(
      'VALIDATION_FAILED',
      `task_id must be a UUID such as 3f0c2a4e-8b1d-4c6f-9a2e-5d7b1c0e9f13, got ${JSON.stringify(body.task_id)}`,
    );
  }
  const taskId = body.task_id?.toLowerCase();
  if (header === undefined && taskId === undefined) return { key: undefined, taskId, requestHash: undefined };
  const made = {
    task_id: taskId ?? null,
    description: body.description ?? null,
    plan: body.plan ?? null,
    workflow: body.workflow ?? null,
    input: body.input ?? {},
    execute: body.execute !== false,
    // Another budget is another request (a retry must not come back with a run spending under the
    // first one's), and so are another start time and other flow control. Each is in the fingerprint
    // only when given, so a request without them fingerprints as it did before they were added.
    ...definedOnly({
      budget: body.budget,
      run_at: body.run_at,
      delay: body.delay,
      concurrency: body.concurrency,
      rate_limit: body.rate_limit,
      priority: body.priority,
    }),
  };
  return { key: header, taskId, requestHash: createHash('sha256').update(canonicalJson(made)).digest('base64url') };
}

const definedOnly = (fields: Record<string, unknown>) => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
