// The rules ESLint has no equivalent for: credentials written into source and TODO-style comments.
// They run on the TypeScript AST beside ESLint (services/tooling/lint.ts joins the two).
import ts from 'typescript';
import { findingAt, compareFindings, type Finding, type Severity } from './findings.ts';
import type { InputFile } from './input-files.ts';
import { isSecretName, knownKeyPattern, looksLikeSecretValue } from './secret-patterns.ts';

export const CUSTOM_RULES = {
  'hardcoded-secret': 'error',
  'todo-comment': 'info',
} as const satisfies Record<string, Severity>;

export type CustomRule = keyof typeof CUSTOM_RULES;

const TODO_TAG = /\b(TODO|FIXME|XXX|HACK)\b:?\s*(.*)/;

export function scriptKindOf(fileName: string): ts.ScriptKind {
  if (/\.tsx$/.test(fileName)) return ts.ScriptKind.TSX;
  if (/\.jsx$/.test(fileName)) return ts.ScriptKind.JSX;
  if (/\.[cm]?js$/.test(fileName)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

/** Parses one file for linting alone; no program or type information is needed. */
export function parseSource(file: InputFile): ts.SourceFile {
  return ts.createSourceFile(file.path, file.content, ts.ScriptTarget.Latest, true, scriptKindOf(file.path));
}

function stringValue(node: ts.Node | undefined): string | undefined {
  if (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) return node.text;
  return undefined;
}

function nameText(name: ts.Node): string | undefined {
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name) || ts.isStringLiteral(name)) return name.text;
  if (ts.isPropertyAccessExpression(name)) return name.name.text;
  return undefined;
}

/** The name a secret-bearing literal is bound to, for `x = '...'` shapes; undefined otherwise. */
function boundName(node: ts.Node): { name: string; value: ts.Node } | undefined {
  if (
    (ts.isVariableDeclaration(node) || ts.isPropertyAssignment(node) || ts.isPropertyDeclaration(node) || ts.isParameter(node)) &&
    node.initializer
  ) {
    const name = nameText(node.name);
    return name === undefined ? undefined : { name, value: node.initializer };
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
    const name = nameText(node.left);
    return name === undefined ? undefined : { name, value: node.right };
  }
  return undefined;
}

/**
 * Every comment in the file. Comments are trivia, not nodes, so they are read around each token:
 * a comment on the same line belongs to the token before it, one on a later line to the token after.
 */
function commentRanges(sf: ts.SourceFile): ts.CommentRange[] {
  const found = new Map<number, ts.CommentRange>();
  const add = (ranges: ts.CommentRange[] | undefined): void => ranges?.forEach((r) => found.set(r.pos, r));
  const walk = (node: ts.Node): void => {
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) return;
    if (node.kind <= ts.SyntaxKind.LastToken) {
      add(ts.getLeadingCommentRanges(sf.text, node.pos));
      add(ts.getTrailingCommentRanges(sf.text, node.end));
      return;
    }
    for (const child of node.getChildren(sf)) walk(child);
  };
  walk(sf);
  return [...found.values()].sort((a, b) => a.pos - b.pos);
}

/** Applies the custom rules to one parsed file; `file` is the path reported in findings. */
export function checkCustomRules(sf: ts.SourceFile, file: string): Finding[] {
  const findings: Finding[] = [];
  const reportedLiterals = new Set<ts.Node>();
  const report = (pos: number, rule: CustomRule, message: string): void => {
    findings.push(findingAt(sf, file, pos, rule, CUSTOM_RULES[rule], message));
  };

  const visit = (node: ts.Node): void => {
    const bound = boundName(node);
    const boundValue = bound ? stringValue(bound.value) : undefined;
    if (bound && boundValue !== undefined && isSecretName(bound.name) && looksLikeSecretValue(boundValue, bound.name)) {
      reportedLiterals.add(bound.value);
      report(
        bound.value.getStart(sf),
        'hardcoded-secret',
        `Possible hardcoded secret assigned to '${bound.name}'; load it from configuration or a secret store`,
      );
    }
    if (
      (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) &&
      !reportedLiterals.has(node)
    ) {
      const label = knownKeyPattern(node.text);
      if (label)
        report(
          node.getStart(sf),
          'hardcoded-secret',
          `String matches a known credential format (${label}); load it from configuration or a secret store`,
        );
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);

  for (const range of commentRanges(sf)) {
    const text = sf.text.slice(range.pos, range.end);
    const match = TODO_TAG.exec(text);
    if (!match) continue;
    const note = match[2]
      ?.replace(/\*\/\s*$/, '')
      .trim()
      .slice(0, 100);
    report(range.pos + match.index, 'todo-comment', note ? `${match[1]} comment: ${note}` : `${match[1]} comment`);
  }
  return findings.sort(compareFindings);
}
