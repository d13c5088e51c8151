import { Type } from 'typebox';
import { defineAgent, TaskFailedError } from '../sdk/index.ts';
import { collectFiles, FileSchema, isSourcePath, type InputFile } from '../../services/tooling/index.ts';
import { STEP_NAMES, STEPS, stepsNamedIn, type StepName, type StepResult } from './steps.ts';
import { createWorkspace } from './workspace.ts';
import { checkPipeline, noSourceReason } from './check.ts';

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_TIMEOUT_MS = 300_000;
const LOG_TAIL_BYTES = 4_096;

export interface CicdInput {
  files?: InputFile[];
  task?: string;
  steps?: StepName[];
  timeout_ms?: number;
}

export const cicdAgent = defineAgent<CicdInput>({
  name: 'cicd',
  description:
    'Runs a CI pipeline over the given files in a throwaway workspace: tsc typecheck, ESLint with the shared code-review rules, and node --test; reports each step with its log tail.',
  version: '0.1.0',
  capabilities: [
    'run ci pipeline',
    'run tests',
    'run unit tests',
    'execute test suite',
    'run typecheck',
    'compile typescript',
    'continuous integration',
    'verify build',
    'check tests pass',
    'validate pipeline',
    'ci checks',
  ],
  inputSchema: Type.Object(
    {
      files: Type.Optional(Type.Array(FileSchema)),
      task: Type.Optional(Type.String()),
      steps: Type.Optional(Type.Array(Type.Union(STEP_NAMES.map((n) => Type.Literal(n))), { minItems: 1, maxItems: 10 })),
      timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMEOUT_MS })),
    },
    { additionalProperties: true },
  ),
  outputs: ['passed', 'steps', 'summary'],
  check: checkPipeline,
  async execute(input, ctx) {
    const steps = input.steps ?? stepsNamedIn(input.task);
    const unknown = steps.filter((s) => !STEP_NAMES.includes(s));
    if (steps.length === 0 || unknown.length > 0) {
      throw new TaskFailedError(`steps must be a non-empty list of ${STEP_NAMES.join(', ')}`, { unknown });
    }
    const timeoutMs = Math.min(Math.max(1, input.timeout_ms ?? DEFAULT_TIMEOUT_MS), MAX_TIMEOUT_MS);
    const collected = collectFiles(input, ctx.dependencies);
    if (!collected.ok) throw new TaskFailedError(collected.message);
    if (!collected.files.some((f) => isSourcePath(f.path)))
      throw new TaskFailedError(noSourceReason(collected.files.map((f) => f.path)), { paths: collected.files.map((f) => f.path) });

    const workspace = await createWorkspace(collected.files);
    const results: StepResult[] = [];
    try {
      // Every step runs even after a failure: the report should show everything that is wrong.
      for (const [i, name] of steps.entries()) {
        ctx.signal.throwIfAborted();
        // A pipeline takes seconds to minutes: the run shows which step it is on.
        ctx.progress({ message: `running ${name}`, fraction: i / steps.length });
        const result = await STEPS[name](workspace, { timeoutMs, signal: ctx.signal, maxLogBytes: LOG_TAIL_BYTES });
        ctx.log.info({ step: name, status: result.status, durationMs: result.duration_ms }, 'pipeline step finished');
        results.push(result);
      }
      ctx.signal.throwIfAborted();
    } finally {
      await workspace.dispose();
    }

    // A pipeline in which nothing ran has not passed: it says why instead of a green report.
    if (results.every((r) => r.status === 'skipped'))
      throw new TaskFailedError(
        `nothing to run: ${results.map((r) => `${r.name} skipped (${r.reason ?? 'no reason given'})`).join(', ')}`,
        {
          steps: results,
        },
      );
    const passed = results.every((r) => r.status === 'passed' || r.status === 'skipped');
    return {
      passed,
      steps: results,
      summary: `Pipeline ${passed ? 'passed' : 'failed'}: ${results.map((r) => `${r.name} ${r.status.replace('_', ' ')}`).join(', ')}`,
    };
  },
});
