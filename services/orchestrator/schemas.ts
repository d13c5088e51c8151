import { Type } from 'typebox';
import { BudgetSchema, PlanSchema, RateLimitSchema } from '../state/index.ts';

export { PlanSchema, PlanStepSchema, RateLimitSchema } from '../state/index.ts';

// Route schemas: they validate requests and generate the OpenAPI document (GET /openapi.json).

export const ErrorReply = Type.Object(
  { statusCode: Type.Integer(), code: Type.String(), error: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) },
  { $id: 'ErrorReply', description: 'Every error: a stable code and a message naming the problem' },
);

/** A JSON object reply; its fields are described in docs/API.md. */
export const ObjectReply = Type.Object({}, { additionalProperties: true });

/** A run's concurrency: at most `limit` runs of the key's value at once (a request's or a named workflow's). */
export const RunConcurrencySchema = Type.Object(
  {
    key: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'What to count by, read from the input: "input.repo", "input.tenant.id"',
    }),
    limit: Type.Integer({ minimum: 1, maximum: 10_000, description: 'At most this many of the key running at once' }),
    strategy: Type.Optional(
      Type.Union([Type.Literal('queue'), Type.Literal('cancel_newest'), Type.Literal('cancel_in_progress')], {
        description:
          'Over the limit: queue (default) waits its turn, cancel_newest cancels this one, cancel_in_progress cancels the oldest running',
      }),
    ),
  },
  { additionalProperties: false },
);

export const OrchestrateBody = Type.Object(
  {
    description: Type.Optional(Type.String({ minLength: 1, maxLength: 10_000 })),
    plan: Type.Optional(PlanSchema),
    workflow: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'A named workflow (GET /workflows); its steps use {{input.*}}' }),
    ),
    input: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Given to every planned step' })),
    wait: Type.Optional(Type.Boolean({ description: 'Answer with the finished result instead of 202' })),
    execute: Type.Optional(Type.Boolean({ description: 'false: only plan; run later with POST /execute/:task_id' })),
    task_id: Type.Optional(
      Type.String({ maxLength: 100, description: 'Your choice of task id (a UUID): a retry with the same id and body gets the same task' }),
    ),
    run_at: Type.Optional(
      Type.String({ maxLength: 64, description: 'Start then (an ISO 8601 time with a zone): stored now as scheduled; not with delay' }),
    ),
    delay: Type.Optional(Type.String({ maxLength: 32, description: 'Start after this long ("90s", "5m", "2h", "1d"); not with run_at' })),
    concurrency: Type.Optional(RunConcurrencySchema),
    rate_limit: Type.Optional(RateLimitSchema),
    priority: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 5, description: 'Among queued work of one key, higher goes first (default 3)' }),
    ),
    budget: Type.Optional(BudgetSchema),
  },
  { additionalProperties: false },
);

export const SubmitHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description: 'A retry with the same key and body gets the task the first request made (1-255 visible ASCII characters)',
    }),
  ),
});

export const TaskParams = Type.Object({ task_id: Type.String({ minLength: 1, maxLength: 64 }) });

export const WaitBody = Type.Union([Type.Object({ wait: Type.Optional(Type.Boolean()) }, { additionalProperties: false }), Type.Null()]);

export const CancelBody = Type.Union([
  Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }),
  Type.Null(),
]);

export const AnswerBody = Type.Union([
  Type.Object(
    { comment: Type.Optional(Type.String({ maxLength: 4000 })), step_id: Type.Optional(Type.String({ maxLength: 64 })) },
    { additionalProperties: false },
  ),
  Type.Null(),
]);

export const ListQuery = Type.Object(
  {
    status: Type.Optional(
      Type.Union(['planned', 'scheduled', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'].map((s) => Type.Literal(s))),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Only tasks whose description holds this text, in any case' }),
    ),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    schedule: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'Only the runs this schedule (by name) started' })),
  },
  { additionalProperties: false },
);
