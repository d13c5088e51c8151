import { Type, type Static } from 'typebox';

// POST /check: the planner asks an agent, before a plan is accepted, whether a step could run on
// the input it would get. Nothing has run yet, so the agent learns what its dependencies will hand
// on from the output fields their agents declare (`outputs` in /info), not from outputs.

/** A step this one will depend on, and the output fields its agent declares. */
export const UpstreamStep = Type.Object(
  {
    step: Type.String({ minLength: 1, maxLength: 128 }),
    agent: Type.String({ minLength: 1, maxLength: 64 }),
    outputs: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 50 }),
  },
  { additionalProperties: false },
);
export type UpstreamStep = Static<typeof UpstreamStep>;

export const CheckRequest = Type.Object(
  {
    input: Type.Record(Type.String(), Type.Unknown()),
    context: Type.Optional(
      Type.Object(
        {
          description: Type.Optional(Type.String()),
          upstream: Type.Optional(Type.Array(UpstreamStep, { maxItems: 200 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CheckRequest = Static<typeof CheckRequest>;

/**
 * An agent's answer: `runs`; `scaffold` (it runs, but what comes out is a stand-in, e.g. stubs
 * without a model, and `reason` says so); or `refused`, with why and what to write instead.
 */
export const CheckVerdict = Type.Union([
  Type.Object({ verdict: Type.Literal('runs') }, { additionalProperties: false }),
  Type.Object({ verdict: Type.Literal('scaffold'), reason: Type.String() }, { additionalProperties: false }),
  Type.Object(
    {
      verdict: Type.Literal('refused'),
      reason: Type.String(),
      fix: Type.String(),
      /** What the step lacks that an earlier step could hand on (e.g. "files"): the planner may order it after one. */
      wants: Type.Optional(Type.Array(Type.String())),
    },
    { additionalProperties: false },
  ),
]);
export type CheckVerdict = Static<typeof CheckVerdict>;

/**
 * Whether one of `outputs` is `want`. An output may say what kind it is ("files:source" are code,
 * "files:config" deployment config): "files" is met by either, "files:source" only by code.
 */
export const gives = (outputs: readonly string[], want: string): boolean => outputs.some((o) => o === want || o.startsWith(`${want}:`));

/** Whether a dependency will hand on `want`: some upstream agent declares it among its outputs. */
export const upstreamGives = (upstream: readonly UpstreamStep[], want: string): boolean => upstream.some((u) => gives(u.outputs, want));
