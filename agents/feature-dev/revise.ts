// Fix mode: files that a review sent back, with its findings. The deterministic fixes run first
// (ESLint's auto-fixes, then the mechanical ones in fixes.ts), because they are cheap and cannot
// change behaviour; only what they leave goes to the model, when one is configured.
import type { AgentContext, AgentOutput } from '../sdk/index.ts';
import { NO_MODEL_CONFIGURED, type LlmUse } from '../../services/llm/index.ts';
import { fixWithEslint } from '../../services/tooling/eslint-runner.ts';
import { formatFiles } from '../../services/tooling/format.ts';
import type { InputFile } from '../../services/tooling/index.ts';
import { isLintRule } from '../../services/tooling/lint.ts';
import { applyFindings, type ReviewFinding } from './fixes.ts';
import { reviseWithModel, type ModelWork } from './llm.ts';

type Fixed = ReviewFinding & { fix: string };
type Unfixed = ReviewFinding & { reason: string };

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const withoutReason = ({ reason: _reason, ...finding }: Unfixed): ReviewFinding => finding;

/** Splits the findings the model was given into those its revision resolved and those still reported. */
function afterModel(given: Unfixed[], work: Extract<ModelWork, { ok: true }>): { fixed: Fixed[]; unfixed: Unfixed[] } {
  const reported = new Set([...work.lint.map((f) => `${f.file}\0${f.rule}`), ...work.diagnostics.map((d) => `${d.file}\0TS${d.code}`)]);
  const fixed: Fixed[] = [];
  const unfixed: Unfixed[] = [];
  for (const u of given) {
    const finding = withoutReason(u);
    // Lines move when a model rewrites a file, so "still there" means the same rule in the same file.
    if (reported.has(`${u.file}\0${u.rule}`)) unfixed.push({ ...finding, reason: `still reported after ${work.model} revised the file` });
    else if (isLintRule(u.rule) || /^TS\d+$/.test(u.rule)) fixed.push({ ...finding, fix: `revised by ${work.model}` });
    else fixed.push({ ...finding, fix: `revised by ${work.model}; ${u.rule} is not re-checked here, the next review will` });
  }
  return { fixed, unfixed };
}

export async function revise(files: InputFile[], findings: ReviewFinding[], ctx: AgentContext): Promise<AgentOutput> {
  const eslint = fixWithEslint(files);
  const key = (file: string, rule: string, line: number): string => `${file}\0${rule}\0${line}`;
  const eslintKeys = new Set(eslint.fixed.map((f) => key(f.file, f.rule, f.line)));
  const byEslint = findings.filter((f) => eslintKeys.has(key(f.file, f.rule, f.line)));
  const report = applyFindings(
    eslint.files,
    findings.filter((f) => !byEslint.includes(f)),
  );
  const mechanical = report.fixed.length;
  let fixed: Fixed[] = [...byEslint.map((f) => ({ ...f, fix: `ESLint auto-fix (${f.rule})` })), ...report.fixed];
  let unfixed: Unfixed[] = report.unfixed;
  let result = report.files;
  let llm: LlmUse = NO_MODEL_CONFIGURED;
  const notes: string[] = [];

  // Findings on files that were not passed in cannot be worked on by anyone here.
  const forModel = unfixed.filter((u) => result.some((f) => f.path === u.file));
  if (ctx.llm.available && forModel.length === 0)
    llm = { used: false, reason: 'not needed: no finding was left after the mechanical fixes' };
  else if (ctx.llm.available) {
    const work = await reviseWithModel(ctx, result, forModel);
    if (!work.ok) llm = { used: false, reason: work.reason };
    else {
      const outcome = afterModel(forModel, work);
      fixed = [...fixed, ...outcome.fixed];
      unfixed = [...unfixed.filter((u) => !forModel.includes(u)), ...outcome.unfixed];
      result = work.files;
      notes.push(...work.notes);
      llm = { used: true, model: work.model };
    }
  }

  // Formatting last, so what goes back to review is laid out the same way whoever fixed it.
  const layout = await formatFiles(result);
  result = layout.files;
  const changed = result.filter((f) => files.find((o) => o.path === f.path)?.content !== f.content);
  const how = [
    `${byEslint.length} by ESLint auto-fix`,
    `${mechanical} mechanically`,
    ...(llm.used ? [`${fixed.length - byEslint.length - mechanical} by ${llm.model}`] : []),
  ];
  const findingKeys = new Set(findings.map((f) => key(f.file, f.rule, f.line)));
  const otherEslint = eslint.fixed.filter((f) => !findingKeys.has(key(f.file, f.rule, f.line))).length;
  return {
    files: result,
    exports: [],
    implemented: false,
    fixed,
    unfixed,
    eslint_fixed: eslint.fixed,
    formatted: layout.formatted,
    todo: unfixed.map((u) => `${u.file}:${u.line} ${u.rule}: ${u.message} (not fixed: ${u.reason})`),
    ...(notes.length > 0 ? { notes } : {}),
    llm,
    summary:
      `Applied ${fixed.length} of ${plural(findings.length, 'review finding')} (${how.join(', ')})` +
      `${otherEslint > 0 ? ` and ${otherEslint} other ESLint auto-fix${otherEslint === 1 ? '' : 'es'}` : ''} in ${plural(changed.length, 'file')}; ` +
      `${unfixed.length} left ${llm.used ? 'for a person' : 'for a person or an LLM'}`,
  };
}
