import { Type, type Static } from 'typebox';
import Value from 'typebox/value';
import { AppError, serializeError } from '../errors/index.ts';
import { errorBody, textProblem } from '../http/index.ts';
import { Usage } from './usage.ts';

/** What `protocol` in GET /info says; bumped only when an older agent or orchestrator would misread the other. */
export const PROTOCOL_VERSION = '1';

/** One step attempt, as POST /execute takes it (a stream entry's body and the gRPC message carry the same fields). */
export const ExecuteRequest = Type.Object(
  {
    idempotency_key: Type.String({ minLength: 1, maxLength: 256 }),
    task_id: Type.String({ minLength: 1, maxLength: 128 }),
    step_id: Type.String({ minLength: 1, maxLength: 128 }),
    attempt: Type.Integer({ minimum: 1 }),
    input: Type.Record(Type.String(), Type.Unknown()),
    context: Type.Optional(
      Type.Object({
        description: Type.Optional(Type.String()),
        dependencies: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      }),
    ),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type ExecuteRequest = Static<typeof ExecuteRequest>;

/**
 * A call that came by a transport with no schema of its own (a stream entry's body, a gRPC message's
 * fields), held to what POST /execute takes: no NUL, lone surrogate or nesting past MAX_JSON_DEPTH,
 * then the schema. Refused as HTTP refuses it (INVALID_TEXT, TOO_DEEP, VALIDATION_FAILED) naming the field.
 */
export function checkedExecuteRequest(value: unknown): ExecuteRequest {
  const problem = textProblem(value, 'request');
  if (problem) throw problem;
  const wrong = [...Value.Errors(ExecuteRequest, value)][0];
  if (wrong) {
    const field = wrong.instancePath.split('/').filter(Boolean).join('.') || 'request';
    throw new AppError('VALIDATION_FAILED', `${field} ${wrong.message}`, { details: { field } });
  }
  return value as ExecuteRequest;
}

/** The answer to a call that ran: status 200. */
export const ExecuteSucceeded = Type.Object({
  agent: Type.String(),
  idempotency_key: Type.String(),
  status: Type.Literal('succeeded'),
  output: Type.Record(Type.String(), Type.Unknown()),
  decision: Type.Optional(Type.Union([Type.Literal('approved'), Type.Literal('rejected')])),
  duration_ms: Type.Integer({ minimum: 0 }),
  /** The models the step called, per model; absent when it called none. */
  usage: Type.Optional(Usage),
});
export type ExecuteSucceeded = Static<typeof ExecuteSucceeded>;

/**
 * The answer to a call that failed or was refused: the error body every service sends, plus
 * `failure`, from which the caller decides whether to retry (`retryable`), never from the text.
 * Over HTTP a call refused before its handler ran (bad envelope or input, wrong token, conflicting
 * key, shutting down) gets the plain error body, and the caller goes by the status.
 */
export const ExecuteFailed = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
  agent: Type.Optional(Type.String()),
  idempotency_key: Type.Optional(Type.String()),
  status: Type.Optional(Type.Literal('failed')),
  failure: Type.Optional(
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      retryable: Type.Boolean(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  ),
  /** What the attempt spent on models before it failed: a failed attempt costs too. */
  usage: Type.Optional(Usage),
});
export type ExecuteFailed = Static<typeof ExecuteFailed>;

export const ExecuteAnswer = Type.Union([ExecuteSucceeded, ExecuteFailed]);
export type ExecuteAnswer = Static<typeof ExecuteAnswer>;

/**
 * An answer as every carrier delivers it: the HTTP status the call had (or would have had), the
 * body, and whether it is a stored answer replayed for a repeated key.
 */
export const ExecuteReply = Type.Object({
  status_code: Type.Integer(),
  body: ExecuteAnswer,
  replayed: Type.Boolean(),
});
export type ExecuteReply = Static<typeof ExecuteReply>;

/** GET /info (and gRPC Info): what the agent is and what the planner may give it. */
export const AgentInfo = Type.Object({
  name: Type.String(),
  description: Type.String(),
  version: Type.String(),
  protocol: Type.String(),
  capabilities: Type.Array(Type.String()),
  /** JSON schema of the input the agent takes. */
  input_schema: Type.Object({}),
  /** The agent answers POST /check: whether a step could run on an input, before a plan is accepted. */
  checks: Type.Optional(Type.Boolean()),
  /** Output fields every successful answer carries ("files"), so the planner knows what a step hands on. */
  outputs: Type.Optional(Type.Array(Type.String())),
});
export type AgentInfo = Static<typeof AgentInfo>;

/** The body of a failed call; `extra` (the agent, the key) goes between the error and `failure`. */
export function failedAnswer(err: AppError, extra: { agent?: string; idempotency_key?: string } = {}, usage?: Usage): ExecuteFailed {
  return { ...errorBody(err), ...extra, status: 'failed', failure: serializeError(err), ...(usage?.length ? { usage } : {}) };
}
