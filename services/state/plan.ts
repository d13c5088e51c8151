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

export const PlanSchema = Type.Object(
  { steps: Type.Array(PlanStepSchema, { minItems: 1, maxItems: 200 }) },
  { additionalProperties: false },
);

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
}
