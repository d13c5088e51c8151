import { countFindings, formatFinding, isSourcePath, isTestPath } from '../../services/tooling/index.ts';
import { runAllowed, type RunResult } from './run-process.ts';
import { GENERATED_TSCONFIG, writeTypecheckConfig, type Workspace } from './workspace.ts';

export const STEP_NAMES = ['typecheck', 'lint', 'test'] as const;
export type StepName = (typeof STEP_NAMES)[number];

// The steps a task names outright ("compile the typescript", "run the tests"); a task that names
// the whole pipeline ("CI", "verify the build") or none of them gets all three.
const NAMED: Array<[StepName, RegExp]> = [
  ['typecheck', /\b(?:type\s*-?\s*check\w*|compile\w*|tsc)\b/i],
  ['lint', /\b(?:lint\w*|eslint)\b/i],
  ['test', /\b(?:tests|unit\s+tests?|test\s+suite|node\s+--test)\b/i],
];
const WHOLE = /\b(?:ci|pipeline|build|verify|checks|everything|all)\b/i;

/** The steps the task's words ask for, in pipeline order. */
export function stepsNamedIn(task: string | undefined): StepName[] {
  if (!task || WHOLE.test(task)) return [...STEP_NAMES];
  const named = NAMED.filter(([, pattern]) => pattern.test(task)).map(([name]) => name);
  return named.length > 0 ? named : [...STEP_NAMES];
}

export interface StepResult {
  name: StepName;
  status: 'passed' | 'failed' | 'skipped' | 'timed_out';
  duration_ms: number;
  exit_code: number | null;
  log_tail: string;
  reason?: string;
}

export interface StepOptions {
  timeoutMs: number;
  signal: AbortSignal;
  maxLogBytes: number;
}

function skipped(name: StepName, reason: string): StepResult {
  return { name, status: 'skipped', duration_ms: 0, exit_code: null, log_tail: '', reason };
}

/** Keeps the end of `text` within `maxBytes`, like a process's output tail. */
function tailOf(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  return `[... ${bytes.length - maxBytes} bytes omitted]\n${bytes
    .subarray(bytes.length - maxBytes)
    .toString('utf8')
    .replace(/^\uFFFD+/, '')}`;
}

function fromRun(name: StepName, run: RunResult, workspace: Workspace, timeoutMs: number): StepResult {
  // Paths in tool output are shown relative to the workspace, which is gone after the run.
  const log = run.outputTail.replaceAll(`${workspace.dir}/`, '').replaceAll(workspace.dir, '.');
  const result = (status: StepResult['status'], reason?: string): StepResult => ({
    name,
    status,
    duration_ms: run.durationMs,
    exit_code: run.exitCode,
    log_tail: log,
    ...(reason ? { reason } : {}),
  });
  if (run.timedOut) return result('timed_out', `exceeded the ${timeoutMs} ms step time limit and was killed`);
  if (run.aborted) return result('failed', 'cancelled');
  if (run.spawnError) return result('failed', `could not start: ${run.spawnError}`);
  return run.exitCode === 0 ? result('passed') : result('failed', `exited with code ${run.exitCode}`);
}

async function typecheck(workspace: Workspace, options: StepOptions): Promise<StepResult> {
  if (!(await writeTypecheckConfig(workspace))) return skipped('typecheck', 'no TypeScript files');
  const run = await runAllowed('tsc', ['-p', GENERATED_TSCONFIG, '--pretty', 'false'], {
    cwd: workspace.dir,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    maxOutputBytes: options.maxLogBytes,
  });
  return fromRun('typecheck', run, workspace, options.timeoutMs);
}

/** The code-review rule set (ESLint and the secret/TODO rules), in process; error-severity findings fail the step. */
async function lint(workspace: Workspace, options: StepOptions): Promise<StepResult> {
  if (!workspace.files.some((f) => isSourcePath(f.path))) return skipped('lint', 'no TypeScript or JavaScript files');
  // ESLint loads on the first lint step, not when the agent is imported, and outside the step's timing.
  const { lintFiles } = await import('../../services/tooling/lint.ts');
  const started = performance.now();
  const findings = lintFiles(workspace.files);
  const counts = countFindings(findings);
  const failed = counts.error > 0;
  const log = [...findings.map(formatFinding), `${counts.error} errors, ${counts.warning} warnings, ${counts.info} info`].join('\n');
  return {
    name: 'lint',
    status: failed ? 'failed' : 'passed',
    duration_ms: Math.round(performance.now() - started),
    exit_code: failed ? 1 : 0,
    log_tail: tailOf(log, options.maxLogBytes),
    ...(failed ? { reason: `${counts.error} error-severity finding${counts.error === 1 ? '' : 's'}` } : {}),
  };
}

async function test(workspace: Workspace, options: StepOptions): Promise<StepResult> {
  const testFiles = workspace.files.filter((f) => isTestPath(f.path)).map((f) => f.path);
  if (testFiles.length === 0) return skipped('test', 'no *.test.ts or *.test.js files');
  // './' keeps a file named like a flag ("--eval.test.js") from being read as one.
  const run = await runAllowed(
    'node-test',
    testFiles.map((p) => `./${p}`),
    {
      cwd: workspace.dir,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      maxOutputBytes: options.maxLogBytes,
    },
  );
  return fromRun('test', run, workspace, options.timeoutMs);
}

export const STEPS: Record<StepName, (workspace: Workspace, options: StepOptions) => Promise<StepResult>> = { typecheck, lint, test };
