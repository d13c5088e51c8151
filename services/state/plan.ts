import { Type, type Static } from 'typebox';

// The shape of a plan, once: the API and the workflow files validate against these schemas, and the
// engine's types are derived from them.

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

/** At most `limit` starts or calls of the key per `period`; over it, work waits its turn (never dropped). */
export const RateLimitSchema = Type.Object(
  {
    key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'What to count by: a path into the input ("input.tenant") or a name ("provider-x"); a step\'s default is its agent',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 100_000 }),
    period: Type.String({ minLength: 1, maxLength: 16, description: 'A duration with a unit: "1s", "1m", "1h"' }),
  },
  { additionalProperties: false },
);

/** A step's calls to its agent: at most `limit` at once per key, across every replica. */
const StepConcurrencySchema = Type.Object(
  {
    key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'A path into the step\'s input ("input.tenant") or a name; default: the agent',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 10_000 }),
  },
  { additionalProperties: false },
);

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
    concurrency: Type.Optional(StepConcurrencySchema),
    rate_limit: Type.Optional(RateLimitSchema),
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

export const PlanSchema = Type.Object(
  { steps: Type.Array(PlanStepSchema, { minItems: 1, maxItems: 200 }) },
  { additionalProperties: false },
);

/**
 * What a run may spend on models: USD (priced attempts only: a model without a price counts in
 * tokens) and/or tokens (prompt + completion). Reached, nothing more is dispatched; `on_budget` says
 * whether the run then fails (BUDGET_EXCEEDED) or waits for someone to raise it.
 */
export const BudgetSchema = Type.Object(
  {
    usd: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description: 'US dollars the run may spend on models' })),
    tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1e12, description: 'Prompt + completion tokens the run may use' })),
    on_budget: Type.Optional(
      Type.Union([Type.Literal('fail'), Type.Literal('wait')], {
        description: 'fail (default): the run ends BUDGET_EXCEEDED; wait: it parks until POST /tasks/:id/budget raises it',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type Budget = Static<typeof BudgetSchema>;

/** Where a step's outcome leads: a step id (route), or {action: retry | route | fail, target?, max_attempts?}. */
export type Branch = Static<typeof BranchSchema>;
export type RetryPolicy = NonNullable<Static<typeof PlanStepSchema>['retry']>;

/** A step as a client writes it: agent, input and depends_on may be left out (see normalizePlan). */
export type PlanStepInput = Static<typeof PlanStepSchema>;

/**
 * A step as stored and run: every field the schema defaults is present, and an approval step's
 * agent is 'person'.
 */
export type PlanStep = PlanStepInput & { agent: string; input: Record<string, unknown>; depends_on: string[] };

export interface Plan {
  steps: PlanStep[];
  /** Set from the request, the named workflow or the API key (issue 16); the engine checks it before each dispatch. */
  budget?: Budget;
}
