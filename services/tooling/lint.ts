import { ESLINT_CONFIG, eslintFiles, PARSE_ERROR_RULE } from './eslint-runner.ts';
import { compareFindings, type Finding } from './findings.ts';
import { isSourcePath, type InputFile } from './input-files.ts';
import { checkCustomRules, CUSTOM_RULES, parseSource } from './lint-rules.ts';

// A rule lintFiles reports, exported with it so its callers need not know the ESLint runner.
export { PARSE_ERROR_RULE };

/**
 * The one lint pass code review, the cicd lint step and feature-dev share: ESLint plus the custom
 * rules (hardcoded secrets, TODO comments), over every JS/TS file among `files`, sorted.
 */
export function lintFiles(files: readonly InputFile[]): Finding[] {
  const custom = files.filter((f) => isSourcePath(f.path)).flatMap((f) => checkCustomRules(parseSource(f), f.path));
  return [...eslintFiles(files), ...custom].sort(compareFindings);
}

const LINT_RULE_IDS: ReadonlySet<string> = new Set([
  ...ESLINT_CONFIG.flatMap((c) => Object.keys(c.rules ?? {})),
  ...Object.keys(CUSTOM_RULES),
  PARSE_ERROR_RULE,
]);

/** Whether `lintFiles` can report `rule`, i.e. whether re-linting can tell that a finding is gone. */
export function isLintRule(rule: string): boolean {
  return LINT_RULE_IDS.has(rule);
}
