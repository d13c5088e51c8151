// The model's half of a review: it reads the code and the tools' findings and adds what static
// analysis cannot see (wrong logic, unhandled failures, unsafe input handling). Its comments are
// findings like any other, so they count towards the same approve/reject threshold.
import { Type } from 'typebox';
import type { AgentContext } from '../sdk/index.ts';
import { fallbackReason, type LlmUse } from '../../services/llm/index.ts';
import { formatFinding, type Finding, type InputFile } from '../../services/tooling/index.ts';

export const LLM_RULE = 'llm-review';
const MAX_COMMENTS = 50;
const MAX_MESSAGE_CHARS = 500;
// Keeps the prompt inside a small model's context; files past the budget are cut, and the prompt
// says so, rather than silently reviewing half a file.
const MAX_PROMPT_CHARS = 100_000;
const MAX_TOOL_FINDINGS = 100;

export const ReviewCommentsSchema = Type.Object({
  comments: Type.Array(
    Type.Object({
      file: Type.String({ minLength: 1 }),
      line: Type.Integer({ minimum: 1 }),
      severity: Type.Union([Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')]),
      message: Type.String({ minLength: 1 }),
    }),
  ),
});

export type LlmReviewUse = LlmUse & { comments?: number; dropped?: number };

const SYSTEM = [
  'You review TypeScript and JavaScript changes as a careful senior engineer.',
  'Static tools (the TypeScript compiler, ESLint, a secret scanner) have already run; their findings are listed. Do not repeat them.',
  'Report only problems those tools cannot see: incorrect logic, unhandled errors or edge cases, unsafe handling of input, misleading names or docs, missing tests for risky code.',
  'Severity: "error" for a bug or vulnerability that must be fixed before merging, "warning" for something that should be fixed, "info" for a suggestion.',
  'Point each comment at the file and line it is about. Answer with JSON {"comments": [{"file", "line", "severity", "message"}]}; an empty list when the code is fine.',
].join('\n');

function filesBlock(files: readonly InputFile[]): string {
  let budget = MAX_PROMPT_CHARS;
  const parts: string[] = [];
  for (const f of files) {
    const lines = f.content.split('\n');
    const shown: string[] = [];
    for (const [i, line] of lines.entries()) {
      const text = `${String(i + 1).padStart(4)}| ${line}`;
      if (budget - text.length < 0) {
        shown.push(`[... ${lines.length - i} more lines not shown]`);
        break;
      }
      budget -= text.length + 1;
      shown.push(text);
    }
    parts.push(`=== ${f.path} ===\n${shown.join('\n')}`);
  }
  return parts.join('\n\n');
}

function toolFindingsBlock(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'The tools found nothing.';
  const listed = findings.slice(0, MAX_TOOL_FINDINGS).map(formatFinding);
  const more = findings.length > MAX_TOOL_FINDINGS ? [`... and ${findings.length - MAX_TOOL_FINDINGS} more`] : [];
  return ['Findings from the tools:', ...listed, ...more].join('\n');
}

/**
 * Asks the model for review comments on `files`. Comments naming a file that was not reviewed or a
 * line past its end are dropped (and counted): a finding must point at code that exists.
 */
export async function reviewWithLlm(
  files: readonly InputFile[],
  toolFindings: readonly Finding[],
  ctx: AgentContext,
): Promise<{ findings: Finding[]; llm: LlmReviewUse }> {
  let answer: Awaited<ReturnType<typeof ask>>;
  try {
    answer = await ask(files, toolFindings, ctx);
  } catch (err) {
    return { findings: [], llm: { used: false, reason: fallbackReason(err, ctx.signal) } };
  }
  const lineCounts = new Map(files.map((f) => [f.path, f.content.split('\n').length]));
  const seen = new Set<string>();
  const findings: Finding[] = [];
  let dropped = 0;
  for (const c of answer.value.comments) {
    const file = c.file.replace(/^\.\//, '');
    const lines = lineCounts.get(file);
    const message = c.message.replace(/\s+/g, ' ').trim().slice(0, MAX_MESSAGE_CHARS);
    const key = `${file}:${c.line}:${message}`;
    if (lines === undefined || c.line > lines || message === '' || seen.has(key) || findings.length >= MAX_COMMENTS) {
      dropped += 1;
      continue;
    }
    seen.add(key);
    findings.push({ file, line: c.line, column: 1, rule: LLM_RULE, severity: c.severity, message });
  }
  return { findings, llm: { used: true, model: answer.result.model, comments: findings.length, dropped } };
}

function ask(files: readonly InputFile[], toolFindings: readonly Finding[], ctx: AgentContext) {
  return ctx.llm.structured({
    name: 'code_review_comments',
    schema: ReviewCommentsSchema,
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: `${filesBlock(files)}\n\n${toolFindingsBlock(toolFindings)}` },
    ],
    temperature: 0,
    signal: ctx.signal,
    // The model's answer shows on the run as it is written.
    onDelta: (text) => ctx.progress({ text }),
  });
}
