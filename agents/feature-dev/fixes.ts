// Applies the review findings that have one safe mechanical fix and that ESLint's own fixers leave
// alone (it removes no debugger or console statement, and fixes == only between literals). A fix is
// made only where it cannot change behaviour (a `var` that let/const would scope differently is
// left alone) and is kept only if the rule stops firing on the re-linted file; everything else is
// reported back.
import ts from 'typescript';
import type { InputFile } from '../../services/tooling/index.ts';
import { lintFiles } from '../../services/tooling/lint.ts';
import { scriptKindOf } from '../../services/tooling/lint-rules.ts';

export interface ReviewFinding {
  file: string;
  line: number;
  column?: number;
  rule: string;
  severity?: string;
  message: string;
}

export interface FixReport {
  files: InputFile[];
  fixed: Array<ReviewFinding & { fix: string }>;
  unfixed: Array<ReviewFinding & { reason: string }>;
}

type Kind = 'var' | 'eqeq' | 'debugger' | 'console';

function kindOf(f: ReviewFinding): Kind | undefined {
  const text = `${f.rule} ${f.message}`;
  if (/\bno-var\b|'var'/.test(text)) return 'var';
  if (/\beqeqeq\b|'[!=]=='|'[!=]='/.test(text)) return 'eqeq';
  if (/\bno-debugger\b|debugger/.test(text)) return 'debugger';
  if (/\bno-console\b|console\./.test(text)) return 'console';
  return undefined;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

function nodesOnLine(sf: ts.SourceFile, line: number, pick: (n: ts.Node) => boolean): ts.Node[] {
  const found: ts.Node[] = [];
  const visit = (n: ts.Node): void => {
    if (pick(n) && sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1 === line) found.push(n);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

const isStatementList = (n: ts.Node): boolean =>
  ts.isBlock(n) || ts.isSourceFile(n) || ts.isCaseClause(n) || ts.isDefaultClause(n) || ts.isModuleBlock(n);

/** Removes a whole statement, and its line when nothing else is on it. */
function removal(sf: ts.SourceFile, stmt: ts.Node): Edit | string {
  if (!isStatementList(stmt.parent)) return 'it is the only body of an if/loop; removing it would change what runs';
  const start = stmt.getStart(sf);
  const lineStart = sf.text.lastIndexOf('\n', start - 1) + 1;
  const nextNewline = sf.text.indexOf('\n', stmt.end);
  const lineEnd = nextNewline === -1 ? sf.text.length : nextNewline + 1;
  const alone = sf.text.slice(lineStart, start).trim() === '' && sf.text.slice(stmt.end, lineEnd).trim() === '';
  return alone ? { start: lineStart, end: lineEnd, text: '' } : { start, end: stmt.end, text: '' };
}

function identifiersNamed(sf: ts.SourceFile, name: string): ts.Identifier[] {
  const out: ts.Identifier[] = [];
  const visit = (n: ts.Node): void => {
    if (
      ts.isIdentifier(n) &&
      n.text === name &&
      !(ts.isPropertyAccessExpression(n.parent) && n.parent.name === n) &&
      !(ts.isPropertyAssignment(n.parent) && n.parent.name === n)
    )
      out.push(n);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function isWrite(id: ts.Identifier): boolean {
  const p = id.parent;
  if (
    ts.isBinaryExpression(p) &&
    p.left === id &&
    p.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
    p.operatorToken.kind <= ts.SyntaxKind.LastAssignment
  )
    return true;
  if (
    (ts.isPrefixUnaryExpression(p) || ts.isPostfixUnaryExpression(p)) &&
    (p.operator === ts.SyntaxKind.PlusPlusToken || p.operator === ts.SyntaxKind.MinusMinusToken)
  )
    return true;
  return false;
}

/** `var` → `const` (never reassigned) or `let`, when every use already sits inside the new scope. */
function fixVar(sf: ts.SourceFile, list: ts.VariableDeclarationList): Edit | string {
  const scope = ts.isVariableStatement(list.parent) ? list.parent.parent : list.parent;
  let reassigned = false;
  for (const decl of list.declarations) {
    if (!ts.isIdentifier(decl.name)) return 'it destructures; check the bindings by hand';
    const uses = identifiersNamed(sf, decl.name.text);
    const declarations = uses.filter(
      (u) => (ts.isVariableDeclaration(u.parent) || ts.isParameter(u.parent) || ts.isFunctionDeclaration(u.parent)) && u.parent.name === u,
    );
    if (declarations.length > 1) return `"${decl.name.text}" is declared more than once; let/const would reject the redeclaration`;
    const outside = uses.find((u) => u.pos < scope.pos || u.end > scope.end || u.getStart(sf) < decl.getStart(sf));
    if (outside) {
      const line = sf.getLineAndCharacterOfPosition(outside.getStart(sf)).line + 1;
      return `"${decl.name.text}" is used on line ${line}, outside or before the block that let/const would scope it to`;
    }
    if (uses.some(isWrite) || (!decl.initializer && !ts.isForInStatement(list.parent) && !ts.isForOfStatement(list.parent)))
      reassigned = true;
  }
  const keyword = list.getFirstToken(sf);
  if (!keyword || keyword.kind !== ts.SyntaxKind.VarKeyword) return 'no var keyword found';
  return { start: keyword.getStart(sf), end: keyword.end, text: reassigned ? 'let' : 'const' };
}

function fixFinding(sf: ts.SourceFile, f: ReviewFinding, kind: Kind): Edit[] | string {
  if (kind === 'var') {
    const lists = nodesOnLine(
      sf,
      f.line,
      (n) => ts.isVariableDeclarationList(n) && (n.flags & ts.NodeFlags.BlockScoped) === 0,
    ) as ts.VariableDeclarationList[];
    if (lists.length === 0) return `no var declaration on line ${f.line}`;
    const results = lists.map((l) => fixVar(sf, l));
    const reason = results.find((r): r is string => typeof r === 'string');
    return reason ?? (results as Edit[]);
  }
  if (kind === 'eqeq') {
    const ops = nodesOnLine(
      sf,
      f.line,
      (n) =>
        ts.isBinaryExpression(n) &&
        (n.operatorToken.kind === ts.SyntaxKind.EqualsEqualsToken || n.operatorToken.kind === ts.SyntaxKind.ExclamationEqualsToken),
    ) as ts.BinaryExpression[];
    const strictable = ops.filter((b) => b.left.kind !== ts.SyntaxKind.NullKeyword && b.right.kind !== ts.SyntaxKind.NullKeyword);
    if (strictable.length === 0)
      return ops.length > 0 ? '`== null` deliberately matches null and undefined; left as is' : `no == or != on line ${f.line}`;
    return strictable.map((b) => ({
      start: b.operatorToken.getStart(sf),
      end: b.operatorToken.end,
      text: b.operatorToken.kind === ts.SyntaxKind.EqualsEqualsToken ? '===' : '!==',
    }));
  }
  if (kind === 'debugger') {
    const stmts = nodesOnLine(sf, f.line, ts.isDebuggerStatement);
    if (stmts.length === 0) return `no debugger statement on line ${f.line}`;
    const edits = stmts.map((s) => removal(sf, s));
    return edits.find((e): e is string => typeof e === 'string') ?? (edits as Edit[]);
  }
  const calls = nodesOnLine(
    sf,
    f.line,
    (n) =>
      ts.isCallExpression(n) &&
      ts.isPropertyAccessExpression(n.expression) &&
      ts.isIdentifier(n.expression.expression) &&
      n.expression.expression.text === 'console',
  ) as ts.CallExpression[];
  if (calls.length === 0) return `no console call on line ${f.line}`;
  const edits = calls.map((c) =>
    ts.isExpressionStatement(c.parent) ? removal(sf, c.parent) : 'its value is used, so the call cannot simply be removed',
  );
  return edits.find((e): e is string => typeof e === 'string') ?? (edits as Edit[]);
}

const syntaxErrorCount = (file: InputFile): number =>
  ts.transpileModule(file.content, {
    fileName: file.path,
    reportDiagnostics: true,
    compilerOptions: { target: ts.ScriptTarget.ES2024, jsx: ts.JsxEmit.Preserve },
  }).diagnostics?.length ?? 0;

const ruleOf: Record<Kind, string> = { var: 'no-var', eqeq: 'eqeqeq', debugger: 'no-debugger', console: 'no-console' };

export function applyFindings(files: readonly InputFile[], findings: readonly ReviewFinding[]): FixReport {
  const report: FixReport = { files: [], fixed: [], unfixed: [] };
  const byFile = new Map(files.map((f) => [f.path.replace(/^\.\//, ''), f]));
  for (const f of findings) if (!byFile.has(f.file)) report.unfixed.push({ ...f, reason: 'the file was not passed in input.files' });

  for (const [filePath, file] of byFile) {
    const mine = findings.filter((f) => f.file === filePath);
    // A revision hands on the whole set of files, untouched ones included.
    if (mine.length === 0) {
      report.files.push(file);
      continue;
    }
    const sf = ts.createSourceFile(filePath, file.content, ts.ScriptTarget.Latest, true, scriptKindOf(filePath));
    const edits: Edit[] = [];
    const applied: Array<{ finding: ReviewFinding; kind: Kind }> = [];
    for (const finding of mine) {
      const kind = kindOf(finding);
      if (!kind) {
        report.unfixed.push({ ...finding, reason: `no mechanical fix for ${finding.rule}; it needs a person or an LLM` });
        continue;
      }
      const result = fixFinding(sf, finding, kind);
      if (typeof result === 'string') report.unfixed.push({ ...finding, reason: result });
      else {
        edits.push(...result);
        applied.push({ finding, kind });
      }
    }
    // Two findings can point at the same token; apply each edit once, last first so offsets hold.
    const unique = [...new Map(edits.map((e) => [`${e.start}:${e.end}`, e])).values()].sort((a, b) => b.start - a.start);
    let content = file.content;
    for (const e of unique) content = content.slice(0, e.start) + e.text + content.slice(e.end);
    const next = { path: file.path, content };

    if (syntaxErrorCount(next) > syntaxErrorCount(file)) {
      for (const a of applied) report.unfixed.push({ ...a.finding, reason: 'the fix broke the syntax, so the file was left unchanged' });
      report.files.push({ ...file });
      continue;
    }
    const remaining = lintFiles([{ path: filePath, content }]);
    const nextSf = ts.createSourceFile(filePath, content, ts.ScriptTarget.Latest, false, scriptKindOf(filePath));
    // Removed lines shift everything below them; a finding's line is followed through the edits.
    const lineAfterEdits = (line: number): number => {
      const pos = sf.getPositionOfLineAndCharacter(Math.min(line, sf.getLineStarts().length) - 1, 0);
      const shift = unique.filter((e) => e.end <= pos).reduce((acc, e) => acc + e.text.length - (e.end - e.start), 0);
      return nextSf.getLineAndCharacterOfPosition(Math.max(0, pos + shift)).line + 1;
    };
    for (const a of applied) {
      const fix = {
        var: 'var → let/const',
        eqeq: '==/!= → ===/!==',
        debugger: 'removed debugger statement',
        console: 'removed console call',
      }[a.kind];
      // Counted as fixed only if the linter no longer reports the rule on that line.
      if (remaining.some((x) => x.rule === ruleOf[a.kind] && x.line === lineAfterEdits(a.finding.line)))
        report.unfixed.push({ ...a.finding, reason: 'the rule still fires after the fix' });
      else report.fixed.push({ ...a.finding, fix });
    }
    report.files.push(next);
  }
  return report;
}
