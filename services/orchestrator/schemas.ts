import { Type } from 'typebox';

// Route schemas: they validate requests and generate the OpenAPI document (GET /openapi.json).

export const ErrorReply = Type.Object(
  { statusCode: Type.Integer(), code: Type.String(), error: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) },
  { $id: 'ErrorReply', description: 'Every error: a stable code and a message naming the problem' },
);

/** A JSON object reply; its fields are described in docs/API.md. */
export const ObjectReply = Type.Object({}, { additionalProperties: true });

const StepId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Unique within the plan' });

const BranchSchema = Type.Union([
  StepId,
  Type.Object(
    {
      action: Type.Optional(Type.Union([Type.Literal('retry'), Type.Literal('route'), Type.Literal('fail')])),
      target: Type.Optional(StepId),
      max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
    },
    { additionalProperties: false },
  ),
]);

export const PlanStepSchema = Type.Object(
  {
    id: StepId,
    type: Type.Optional(Type.Union([Type.Literal('agent'), Type.Literal('approval')], { description: 'approval: wait for a person' })),
    agent: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$', description: 'Required for agent steps' })),
    input: Type.Record(Type.String(), Type.Unknown(), { default: {}, description: 'May use {{steps.<id>.output.<path>}} of a dependency' }),
    depends_on: Type.Array(StepId, { default: [], maxItems: 200 }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
    on_success: Type.Optional(BranchSchema),
    on_failure: Type.Optional(BranchSchema),
    on_approval: Type.Optional(BranchSchema),
    on_rejection: Type.Optional(BranchSchema),
    prompt: Type.Optional(Type.String({ maxLength: 4000, description: 'Approval steps: what the person is asked' })),
    deadline_ms: Type.Optional(Type.Integer({ minimum: 1, description: 'Approval steps: how long the person has' })),
    retry: Type.Optional(
      Type.Object(
        {
          max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
          backoff_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
          backoff_rate: Type.Optional(Type.Number({ minimum: 1, maximum: 10 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const PlanSchema = Type.Object({ steps: Type.Array(PlanStepSchema, { minItems: 1, maxItems: 200 }) }, { additionalProperties: false });

export const OrchestrateBody = Type.Object(
  {
    description: Type.Optional(Type.String({ minLength: 1, maxLength: 10_000 })),
    plan: Type.Optional(PlanSchema),
    workflow: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'A named workflow (GET /workflows); its steps use {{input.*}}' })),
    input: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Given to every planned step' })),
    wait: Type.Optional(Type.Boolean({ description: 'Answer with the finished result instead of 202' })),
    execute: Type.Optional(Type.Boolean({ description: 'false: only plan; run later with POST /execute/:task_id' })),
    task_id: Type.Optional(Type.String({ maxLength: 100, description: 'Your choice of task id (a UUID): a retry with the same id and body gets the same task' })),
  },
  { additionalProperties: false },
);

export const SubmitHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ description: 'A retry with the same key and body gets the task the first request made (1-255 visible ASCII characters)' })),
});

export const TaskParams = Type.Object({ task_id: Type.String({ minLength: 1, maxLength: 64 }) });

export const WaitBody = Type.Union([Type.Object({ wait: Type.Optional(Type.Boolean()) }, { additionalProperties: false }), Type.Null()]);

export const CancelBody = Type.Union([Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }), Type.Null()]);

export const AnswerBody = Type.Union([
  Type.Object({ comment: Type.Optional(Type.String({ maxLength: 4000 })), step_id: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
  Type.Null(),
]);

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Union(['planned', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'].map((s) => Type.Literal(s)))),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
