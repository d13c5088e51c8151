import { Type } from 'typebox';
import { defineAgent, TaskFailedError } from '../sdk/index.ts';
import { collectFiles, compareFindings, countFindings, createInMemoryProgram, diagnosticToFinding, FileSchema, type Finding, type InputFile, isSourcePath, lintSourceFile } from '../../services/tooling/index.ts';

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
    'Type-checks TypeScript/JavaScript in memory (strict) and applies static rules (any, debugger, eval, ==, var, console, hardcoded secrets, TODOs, long functions); approves or rejects the change.',
  version: '0.1.0',
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
  async execute(input, ctx) {
    const collected = collectFiles(input, ctx.dependencies);
    if (!collected.ok) throw new TaskFailedError(collected.message);
    const sources = collected.files.filter((f) => isSourcePath(f.path));
    if (sources.length === 0) {
      throw new TaskFailedError('no TypeScript or JavaScript files to review', { paths: collected.files.map((f) => f.path) });
    }
    const maxWarnings = input.max_warnings ?? 10;

    const { program, roots } = createInMemoryProgram(collected.files, isSourcePath);
    const findings: Finding[] = [];
    for (const { path, sourceFile } of roots) {
      ctx.signal.throwIfAborted();
      const diagnostics = [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)];
      for (const d of diagnostics) findings.push(diagnosticToFinding(d, path));
      findings.push(...lintSourceFile(sourceFile, path));
    }
    findings.sort(compareFindings);

    const counts = countFindings(findings);
    const approved = counts.error === 0 && counts.warning <= maxWarnings;
    const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
    ctx.log.info({ files: roots.length, ...counts, approved }, 'code review finished');
    return {
      approved,
      decision: approved ? 'approved' : 'rejected',
      findings: findings.slice(0, MAX_REPORTED_FINDINGS),
      ...(findings.length > MAX_REPORTED_FINDINGS ? { findings_truncated: true } : {}),
      counts,
      files_reviewed: roots.length,
      summary:
        `${approved ? 'Approved' : 'Rejected'}: ${plural(counts.error, 'error')}, ${plural(counts.warning, 'warning')} ` +
        `(limit ${maxWarnings}), ${counts.info} info in ${plural(roots.length, 'file')}`,
    };
  },
});
