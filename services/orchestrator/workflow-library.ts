import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from 'typebox';
import Value from 'typebox/value';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError } from '../errors/index.ts';
import { BudgetSchema, type Plan } from '../state/index.ts';
import { findPlanProblems, normalizePlan } from './engine/index.ts';
import { keyFormProblem, periodMs } from './engine/flow-control.ts';
import type { RunFlow } from './plan-request.ts';
import { PlanStepSchema, RateLimitSchema, RunConcurrencySchema } from './schemas.ts';
import { cronProblem } from './schedules/cron.ts';
import { catchUps, overlaps } from './schedules/tick-plan.ts';

export interface NamedWorkflow {
  name: string;
  description: string;
  inputs: Record<string, string>;
  plan: Plan;
  file: string;
  /** Schedules the file declares; written to the database at start (schedules/file-schedules.ts). */
  schedules: FileSchedule[];
  /** The file's concurrency, rate_limit and priority for its runs; a request's own win. */
  flow: RunFlow;
}

const FileScheduleSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,62}$' }),
    cron: Type.String({ minLength: 1, maxLength: 200 }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    input: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    overlap: Type.Optional(Type.Union(overlaps.map((o) => Type.Literal(o)))),
    catch_up: Type.Optional(Type.Union(catchUps.map((c) => Type.Literal(c)))),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export type FileSchedule = Static<typeof FileScheduleSchema>;

const WorkflowFile = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' }),
    description: Type.String({ minLength: 1 }),
    inputs: Type.Optional(Type.Record(Type.String(), Type.String())),
    steps: Type.Array(PlanStepSchema, { minItems: 1, maxItems: 200 }),
    schedules: Type.Optional(Type.Array(FileScheduleSchema, { maxItems: 100 })),
    budget: Type.Optional(BudgetSchema),
    concurrency: Type.Optional(RunConcurrencySchema),
    rate_limit: Type.Optional(RateLimitSchema),
    priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 5 })),
  },
  { additionalProperties: false },
);

export const builtInWorkflowsDir = fileURLToPath(new URL('./workflows/', import.meta.url));

/**
 * Reads every *.yaml in `dir`, checks it against the schema and the graph rules, and refuses to go
 * on at the first bad file: the error names the file, the line and the problem.
 */
export async function loadWorkflows(dir: string, knownAgents: ReadonlySet<string>): Promise<Map<string, NamedWorkflow>> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const out = new Map<string, NamedWorkflow>();
  for (const f of files) {
    const file = join(dir, f);
    const wf = parseWorkflow(await readFile(file, 'utf8'), file, knownAgents);
    const clash = out.get(wf.name);
    if (clash) throw new ConfigError(`${file}:1: workflow name "${wf.name}" is already used by ${clash.file}`);
    for (const s of wf.schedules) {
      const other = [...out.values()].find((w) => w.schedules.some((o) => o.name === s.name));
      if (other) throw new ConfigError(`${file}: schedule name "${s.name}" is already used by ${other.file}`);
    }
    out.set(wf.name, wf);
  }
  return out;
}

export function parseWorkflow(text: string, file: string, knownAgents: ReadonlySet<string>): NamedWorkflow {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number | undefined) => `${file}:${offset === undefined ? 1 : lines.linePos(offset).line}`;
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new ConfigError(`${at(e.pos[0])}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const value = Value.Default(WorkflowFile, doc.toJS());
  if (!Value.Check(WorkflowFile, value)) {
    const e = [...Value.Errors(WorkflowFile, value)][0];
    const path = e.instancePath.split('/').filter(Boolean);
    // additionalProperties: false reports an unknown key as a schema of false.
    const message = e.message === 'schema is false' ? 'is not a known field' : e.message;
    throw new ConfigError(`${at(offsetOf(doc, path))}: ${path.join('.') || 'document'} ${message}`);
  }
  // The file's budget travels in the plan; a request's (or else the API key's) replaces it.
  const plan: Plan = { ...normalizePlan({ steps: value.steps }), ...(value.budget ? { budget: value.budget } : {}) };
  const problems = findPlanProblems(plan, knownAgents);
  const messages: Array<[string | undefined, string]> = [
    ...problems.duplicateSteps.map((s): [string, string] => [s, `duplicate step id "${s}"`]),
    ...problems.missingAgents.map((s): [string, string] => [s, `step "${s}" has no agent`]),
    ...problems.unknownAgents.map((u): [string, string] => [
      u.step,
      `step "${u.step}" names unknown agent "${u.agent}" (known: ${[...knownAgents].sort().join(', ')})`,
    ]),
    ...problems.unknownDependencies.map((u): [string, string] => [u.step, `step "${u.step}" depends on unknown step "${u.dependency}"`]),
    ...problems.cycles.map((c): [string, string] => [c[0], `cycle: ${c.join(' -> ')}`]),
    ...problems.badReferences.map((r): [string, string] => [
      r.step,
      `step "${r.step}" refers to the output of "${r.reference}", which it does not depend on`,
    ]),
    ...[...problems.branches, ...problems.flowControl].map((m): [string | undefined, string] => [/^step "([^"]+)"/.exec(m)?.[1], m]),
  ];
  if (messages.length > 0) {
    const [step, message] = messages[0];
    const index = plan.steps.findIndex((s) => s.id === step);
    throw new ConfigError(`${at(offsetOf(doc, index >= 0 ? ['steps', String(index)] : ['steps']))}: ${message}`);
  }
  const schedules = value.schedules ?? [];
  for (const [i, s] of schedules.entries()) {
    const problem = cronProblem(s.cron, s.timezone ?? 'UTC');
    if (problem) throw new ConfigError(`${at(offsetOf(doc, ['schedules', String(i)]))}: schedule "${s.name}": ${problem}`);
    const twin = schedules.findIndex((o) => o.name === s.name);
    if (twin !== i) throw new ConfigError(`${at(offsetOf(doc, ['schedules', String(i)]))}: duplicate schedule name "${s.name}"`);
  }
  for (const [field, expr] of [
    ['concurrency', value.concurrency?.key],
    ['rate_limit', value.rate_limit?.key],
  ] as const) {
    // The key reads the run's input, which only a request gives: here it can only be checked for form.
    const problem = expr === undefined ? undefined : keyFormProblem(expr, field === 'rate_limit');
    if (problem) throw new ConfigError(`${at(offsetOf(doc, [field, 'key']))}: ${field}.key ${problem}`);
  }
  if (value.rate_limit && periodMs(value.rate_limit.period) === undefined)
    throw new ConfigError(
      `${at(offsetOf(doc, ['rate_limit', 'period']))}: rate_limit.period "${value.rate_limit.period}" is not a duration with a unit (e.g. "1s", "1m")`,
    );
  const flow: RunFlow = {
    ...(value.concurrency ? { concurrency: value.concurrency } : {}),
    ...(value.rate_limit ? { rate_limit: value.rate_limit } : {}),
    ...(value.priority !== undefined ? { priority: value.priority } : {}),
  };
  return { name: value.name, description: value.description, inputs: value.inputs ?? {}, plan, file, schedules, flow };
}

/** Where in the text a JSON path points (the deepest node that exists). */
function offsetOf(doc: Document, path: string[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = (doc.contents as { range?: [number] } | null)?.range?.[0];
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value ?? p.key) === key);
      if (!pair) break;
      offset = (pair.key as { range?: [number] }).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)];
      if (!item) break;
      offset = (item as { range?: [number] }).range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}
