import { Counter, Gauge } from 'prom-client';
import { Type } from 'typebox';
import { defineAgent, TaskFailedError } from '../sdk/index.ts';
import { NO_MODEL_CONFIGURED } from '../../services/llm/index.ts';
import {
  collectFiles,
  compareFindings,
  countFindings,
  FileSchema,
  type Finding,
  type FindingCounts,
  type InputFile,
  isSourcePath,
} from '../../services/tooling/index.ts';
import { reviewWithLlm, type LlmReviewUse } from './llm-review.ts';
import { checkReview } from './check.ts';

// Keeps a review of generated code with thousands of errors from producing a megabyte response;
// the counts still cover every finding.
const MAX_REPORTED_FINDINGS = 500;

export interface CodeReviewInput {
  files?: InputFile[];
  task?: string;
  max_warnings?: number;
}

export const codeReviewAgent = defineAgent<CodeReviewInput>({
  name: 'code-review',
  description:
    'Type-checks TypeScript/JavaScript in memory (strict), lints it with ESLint (recommended JS and TypeScript rules, eqeqeq, no-var, no-eval, no-debugger, ' +
    'console, function length), security rules (SQL and shell commands built from request values, ReDoS-prone regexes) and a hardcoded-secret scanner, adds model review comments when a model is configured, and approves or rejects the change.',
  version: '0.2.0',
  capabilities: [
    'review code',
    'code review',
    'check code quality',
    'lint code',
    'static analysis',
    'type check code',
    'find bugs',
    'detect type errors',
    'audit security',
    'detect hardcoded secrets',
    'approve changes',
    'reject changes',
    'quality gate',
  ],
  inputSchema: Type.Object(
    {
      files: Type.Optional(Type.Array(FileSchema)),
      task: Type.Optional(Type.String()),
      max_warnings: Type.Optional(Type.Integer({ minimum: 0 })),
    },
    { additionalProperties: true },
  ),
  outputs: ['decision', 'findings', 'counts', 'summary'],
  check: checkReview,
  metrics(registry) {
    // The last review's findings as a gauge under the design's name, and a counter (with the _total
    // Prometheus wants of counters) for rates over time.
    const last = new Gauge({
      name: 'code_review_findings',
      help: 'Findings of the most recent review, by severity',
      labelNames: ['severity'],
      registers: [registry],
    });
    const total = new Counter({
      name: 'code_review_findings_total',
      help: 'Review findings reported, by severity',
      labelNames: ['severity'],
      registers: [registry],
    });
    return (output) => {
      const counts = output.counts as FindingCounts | undefined;
      if (!counts) return;
      for (const severity of ['error', 'warning', 'info'] as const) {
        last.set({ severity }, counts[severity]);
        total.inc({ severity }, counts[severity]);
      }
    };
  },
  async execute(input, ctx) {
    const collected = collectFiles(input, ctx.dependencies);
    if (!collected.ok) throw new TaskFailedError(collected.message);
    const sources = collected.files.filter((f) => isSourcePath(f.path));
    if (sources.length === 0) {
      throw new TaskFailedError('no TypeScript or JavaScript files to review', { paths: collected.files.map((f) => f.path) });
    }
    const maxWarnings = input.max_warnings ?? 10;

    // Loaded on the first review, not when the agent is imported (services/tooling/index.ts says why).
    const [{ createInMemoryProgram, diagnosticToFinding }, { lintFiles, PARSE_ERROR_RULE }] = await Promise.all([
      import('../../services/tooling/in-memory-program.ts'),
      import('../../services/tooling/lint.ts'),
    ]);
    const { program, roots } = createInMemoryProgram(collected.files, isSourcePath);
    const findings: Finding[] = [];
    for (const { path, sourceFile } of roots) {
      ctx.signal.throwIfAborted();
      const diagnostics = [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)];
      for (const d of diagnostics) findings.push(diagnosticToFinding(d, path));
    }
    // The compiler's syntax errors say more than ESLint's "Parsing error", so those are not repeated.
    findings.push(...lintFiles(sources).filter((f) => f.rule !== PARSE_ERROR_RULE));

    let llm: LlmReviewUse = NO_MODEL_CONFIGURED;
    if (ctx.llm.available) {
      const review = await reviewWithLlm(sources, [...findings].sort(compareFindings), ctx);
      findings.push(...review.findings);
      llm = review.llm;
    }
    findings.sort(compareFindings);

    const counts = countFindings(findings);
    const approved = counts.error === 0 && counts.warning <= maxWarnings;
    const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
    ctx.log.info({ files: roots.length, ...counts, approved, llm: llm.used }, 'code review finished');
    return {
      approved,
      decision: approved ? 'approved' : 'rejected',
      findings: findings.slice(0, MAX_REPORTED_FINDINGS),
      ...(findings.length > MAX_REPORTED_FINDINGS ? { findings_truncated: true } : {}),
      counts,
      files_reviewed: roots.length,
      llm,
      summary:
        `${approved ? 'Approved' : 'Rejected'}: ${plural(counts.error, 'error')}, ${plural(counts.warning, 'warning')} ` +
        `(limit ${maxWarnings}), ${counts.info} info in ${plural(roots.length, 'file')}` +
        (llm.used ? `; ${plural(llm.comments ?? 0, 'comment')} from ${llm.model}` : ''),
    };
  },
});
