import ts from 'typescript';
import { findingAt, compareFindings, type Finding, type Severity } from './findings.ts';
import { isSourcePath, type InputFile } from './input-files.ts';
import { isSecretName, knownKeyPattern, looksLikeSecretValue } from './secret-patterns.ts';

/** The AST rules shared by code review and the CI lint step, with their fixed severities. */
export const LINT_RULES = {
  'no-explicit-any': 'warning',
  'no-debugger': 'error',
  'no-eval': 'error',
  eqeqeq: 'warning',
  'no-var': 'warning',
  'no-console': 'info',
  'hardcoded-secret': 'error',
  'todo-comment': 'info',
  'max-function-length': 'warning',
} as const satisfies Record<string, Severity>;

export type LintRule = keyof typeof LINT_RULES;

export interface LintOptions {
  /** Functions longer than this many lines get max-function-length; default 80. */
  maxFunctionLines?: number;
}

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

/** Runs the rules over every JS/TS file among `files`, sorted by file and position. */
export function lintFiles(files: readonly InputFile[], options: LintOptions = {}): Finding[] {
  return files
    .filter((f) => isSourcePath(f.path))
    .flatMap((f) => lintSourceFile(parseSource(f), f.path, options))
    .sort(compareFindings);
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
  if ((ts.isVariableDeclaration(node) || ts.isPropertyAssignment(node) || ts.isPropertyDeclaration(node) || ts.isParameter(node)) && node.initializer) {
    const name = nameText(node.name);
    return name === undefined ? undefined : { name, value: node.initializer };
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
    const name = nameText(node.left);
    return name === undefined ? undefined : { name, value: node.right };
  }
  return undefined;
}

function functionName(node: ts.SignatureDeclaration): string {
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name)) return node.parent.name.text;
  if (ts.isPropertyAssignment(node.parent) && ts.isIdentifier(node.parent.name)) return node.parent.name.text;
  return '<anonymous>';
}

function isFunctionWithBody(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessorDeclaration(node) ||
      ts.isSetAccessorDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node)) &&
    node.body !== undefined
  );
}

function isEvalCall(node: ts.CallExpression | ts.NewExpression): string | undefined {
  const callee = node.expression;
  if (ts.isIdentifier(callee) && callee.text === 'eval' && ts.isCallExpression(node)) return 'eval() runs arbitrary code; parse the data instead';
  if (ts.isIdentifier(callee) && callee.text === 'Function') return 'The Function constructor evaluates a string as code';
  if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'eval' && ts.isIdentifier(callee.expression) &&
    ['globalThis', 'window', 'global', 'self'].includes(callee.expression.text)) {
    return 'eval() runs arbitrary code; parse the data instead';
  }
  return undefined;
}

function isAmbient(node: ts.Node, sf: ts.SourceFile): boolean {
  if (sf.isDeclarationFile) return true;
  for (let n: ts.Node | undefined = node; n; n = n.parent) {
    if (ts.canHaveModifiers(n) && ts.getModifiers(n)?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword)) return true;
  }
  return false;
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

/** Applies the rules to one parsed file; `file` is the path reported in findings. */
export function lintSourceFile(sf: ts.SourceFile, file: string, options: LintOptions = {}): Finding[] {
  const maxLines = options.maxFunctionLines ?? 80;
  const findings: Finding[] = [];
  const reportedLiterals = new Set<ts.Node>();
  const report = (pos: number, rule: LintRule, message: string): void => {
    findings.push(findingAt(sf, file, pos, rule, LINT_RULES[rule], message));
  };

  const visit = (node: ts.Node): void => {
    switch (node.kind) {
      case ts.SyntaxKind.AnyKeyword:
        report(node.getStart(sf), 'no-explicit-any', "Unexpected 'any'; use a precise type or 'unknown'");
        break;
      case ts.SyntaxKind.DebuggerStatement:
        report(node.getStart(sf), 'no-debugger', "Remove the 'debugger' statement");
        break;
      case ts.SyntaxKind.VariableDeclarationList:
        // `declare var` is the only way to declare a global, so ambient declarations are exempt.
        if ((node.flags & ts.NodeFlags.BlockScoped) === 0 && !isAmbient(node, sf)) {
          report(node.getStart(sf), 'no-var', "Use 'let' or 'const' instead of 'var'");
        }
        break;
    }
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
      const message = isEvalCall(node);
      if (message) report(node.getStart(sf), 'no-eval', message);
    } else if (ts.isBinaryExpression(node)) {
      const op = node.operatorToken.kind;
      // `x == null` is the idiom for "null or undefined", so comparisons with null are allowed.
      const withNull = node.left.kind === ts.SyntaxKind.NullKeyword || node.right.kind === ts.SyntaxKind.NullKeyword;
      if ((op === ts.SyntaxKind.EqualsEqualsToken || op === ts.SyntaxKind.ExclamationEqualsToken) && !withNull) {
        const strict = op === ts.SyntaxKind.EqualsEqualsToken ? '===' : '!==';
        report(node.operatorToken.getStart(sf), 'eqeqeq', `Use '${strict}' instead of '${node.operatorToken.getText(sf)}'`);
      }
    } else if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'console') {
      report(node.getStart(sf), 'no-console', `Unexpected console.${node.name.text}; use the logger`);
    }

    const bound = boundName(node);
    const boundValue = bound ? stringValue(bound.value) : undefined;
    if (bound && boundValue !== undefined && isSecretName(bound.name) && looksLikeSecretValue(boundValue, bound.name)) {
      reportedLiterals.add(bound.value);
      report(bound.value.getStart(sf), 'hardcoded-secret', `Possible hardcoded secret assigned to '${bound.name}'; load it from configuration or a secret store`);
    }
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) && !reportedLiterals.has(node)) {
      const label = knownKeyPattern(node.text);
      if (label) report(node.getStart(sf), 'hardcoded-secret', `String matches a known credential format (${label}); load it from configuration or a secret store`);
    }

    if (isFunctionWithBody(node)) {
      const start = node.getStart(sf);
      const lines = sf.getLineAndCharacterOfPosition(node.end).line - sf.getLineAndCharacterOfPosition(start).line + 1;
      if (lines > maxLines) report(start, 'max-function-length', `Function '${functionName(node)}' is ${lines} lines long (max ${maxLines})`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);

  for (const range of commentRanges(sf)) {
    const text = sf.text.slice(range.pos, range.end);
    const match = TODO_TAG.exec(text);
    if (!match) continue;
    const note = match[2]?.replace(/\*\/\s*$/, '').trim().slice(0, 100);
    report(range.pos + match.index, 'todo-comment', note ? `${match[1]} comment: ${note}` : `${match[1]} comment`);
  }
  return findings.sort(compareFindings);
}
