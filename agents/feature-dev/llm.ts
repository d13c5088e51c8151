// Writing and revising code with a model. Its files are treated like untrusted input: safe relative
// .ts paths only, ESLint's auto-fixes applied, type-checked in memory and linted. Output that does
// not typecheck is refused, and the caller takes its offline path and says why.
import ts from 'typescript';
import { Type } from 'typebox';
import type { AgentContext } from '../sdk/index.ts';
import { fallbackReason } from '../../services/llm/index.ts';
import { fixWithEslint, type EslintFix } from '../../services/tooling/eslint-runner.ts';
import { unsafePathReason, type Finding, type InputFile } from '../../services/tooling/index.ts';
import { lintFiles } from '../../services/tooling/lint.ts';
import type { ReviewFinding } from './fixes.ts';
import { typecheck, type TypecheckDiagnostic } from './typecheck.ts';

export const ModelFilesSchema = Type.Object({
  files: Type.Array(Type.Object({ path: Type.String({ minLength: 1 }), content: Type.String() }), { minItems: 1 }),
  notes: Type.Optional(Type.Array(Type.String())),
});

const MAX_FILES = 20;
const MAX_FILE_CHARS = 200_000;
const MAX_NOTES = 10;
// Files the findings are about always go to the model; the others only while they fit, so a large
// revision does not overflow a small model's context.
const MAX_CONTEXT_CHARS = 100_000;

export type ModelWork =
  | {
      ok: true;
      model: string;
      files: InputFile[];
      notes: string[];
      lint: Finding[];
      diagnostics: TypecheckDiagnostic[];
      eslintFixed: EslintFix[];
    }
  | { ok: false; reason: string };

const RULES = [
  'Write TypeScript for Node 24: ESM, strict, module and moduleResolution NodeNext; relative imports carry the .ts extension (import { x } from "./x.ts").',
  'Only erasable syntax: no enum, namespace, parameter properties or decorators; import types with `import type` (verbatimModuleSyntax).',
  'Tests use node:test and node:assert/strict and run with `node --test`.',
  'No any, var, ==, eval, new Function, debugger or console; no TODO comments; no credentials in code; keep functions under 80 lines.',
  'Use only the standard library and node: built-ins; there is no node_modules.',
  'Answer with JSON {"files": [{"path", "content"}], "notes": ["..."]}: every file complete, paths relative without "..".',
].join('\n');

function filesBlock(files: readonly InputFile[], mustShow: ReadonlySet<string> = new Set(files.map((f) => f.path))): string {
  let budget = MAX_CONTEXT_CHARS;
  const ordered = [...files.filter((f) => mustShow.has(f.path)), ...files.filter((f) => !mustShow.has(f.path))];
  return ordered
    .map((f) => {
      const show = mustShow.has(f.path) || f.content.length <= budget;
      budget -= show ? f.content.length : 0;
      return show ? `=== ${f.path} ===\n${f.content}` : `=== ${f.path} === (not shown, ${f.content.length} characters)`;
    })
    .join('\n\n');
}

/** The names a module exports, read from its syntax (declarations and `export { ... }` lists). */
export function exportedNames(file: InputFile): string[] {
  const sf = ts.createSourceFile(file.path, file.content, ts.ScriptTarget.Latest, true);
  const names: string[] = [];
  for (const s of sf.statements) {
    if (ts.isExportDeclaration(s) && s.exportClause && ts.isNamedExports(s.exportClause))
      names.push(...s.exportClause.elements.map((e) => e.name.text));
    if (!ts.canHaveModifiers(s) || !ts.getModifiers(s)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
    if (ts.isVariableStatement(s))
      names.push(...s.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name.text] : [])));
    else if (
      (ts.isFunctionDeclaration(s) ||
        ts.isClassDeclaration(s) ||
        ts.isInterfaceDeclaration(s) ||
        ts.isTypeAliasDeclaration(s) ||
        ts.isEnumDeclaration(s)) &&
      s.name
    )
      names.push(s.name.text);
  }
  return [...new Set(names)];
}

/** Why the model's file list cannot be used as it stands, or undefined. */
function unusableFiles(files: readonly InputFile[], allowed: (path: string) => boolean): string | undefined {
  if (files.length > MAX_FILES) return `the model returned ${files.length} files (limit ${MAX_FILES})`;
  const seen = new Set<string>();
  for (const f of files) {
    const reason = unsafePathReason(f.path);
    if (reason) return `the model returned an unsafe path ${JSON.stringify(f.path)}: ${reason}`;
    if (!allowed(f.path)) return `the model returned ${JSON.stringify(f.path)}, which is not a .ts file it may write`;
    if (seen.has(f.path)) return `the model returned ${f.path} twice`;
    if (f.content.length > MAX_FILE_CHARS)
      return `the model returned ${f.path} with ${f.content.length} characters (limit ${MAX_FILE_CHARS})`;
    seen.add(f.path);
  }
  return undefined;
}

const normalise = (files: readonly InputFile[]): InputFile[] =>
  files.map((f) => ({ path: f.path.trim().replace(/\\/g, '/').replace(/^\.\//, ''), content: f.content }));
const describeDiagnostic = (d: TypecheckDiagnostic): string => `${d.file}:${d.line} TS${d.code} ${d.message}`;
// .tsx is left out: the generated-code compiler options have no JSX setting.
const isTsModule = (p: string): boolean => /\.[cm]?ts$/.test(p);
const tsFiles = (files: readonly InputFile[]): InputFile[] => files.filter((f) => isTsModule(f.path));

async function ask(
  ctx: AgentContext,
  task: string,
  user: string,
): Promise<{ files: InputFile[]; notes: string[]; model: string } | { reason: string }> {
  try {
    const { value, result } = await ctx.llm.structured({
      name: 'feature_files',
      schema: ModelFilesSchema,
      messages: [
        { role: 'system', content: `${task}\n${RULES}` },
        { role: 'user', content: user },
      ],
      temperature: 0,
      signal: ctx.signal,
      // The model's answer shows on the run as it is written.
      onDelta: (text) => ctx.progress({ text }),
    });
    const notes = (value.notes ?? [])
      .slice(0, MAX_NOTES)
      .map((n) => n.replace(/\s+/g, ' ').trim().slice(0, 500))
      .filter((n) => n !== '');
    return { files: normalise(value.files), notes, model: result.model };
  } catch (err) {
    return { reason: fallbackReason(err, ctx.signal) };
  }
}

export interface WriteRequest {
  spec: string;
  modulePath: string;
  testPath: string;
  /** Export names the spec fixes (written signatures); the model's module must keep them. */
  requiredExports: string[];
  scaffold: InputFile[];
}

/** The module and its test, written by the model from the spec; accepted only if they typecheck. */
export async function writeWithModel(ctx: AgentContext, req: WriteRequest): Promise<ModelWork> {
  const user = [
    `Spec:\n${req.spec.trim() || '(given as the signatures below)'}`,
    `Implement ${req.modulePath} and write ${req.testPath} with node:test tests of the behaviour the spec describes.`,
    'The offline scaffold below has the exports and signatures taken from the spec: keep them, replace the bodies that throw "not implemented", replace its tests, and define any placeholder types properly.',
    filesBlock(req.scaffold),
  ].join('\n\n');
  const answer = await ask(ctx, 'You are a senior TypeScript engineer implementing a feature from its spec.', user);
  if ('reason' in answer) return { ok: false, reason: answer.reason };
  const bad = unusableFiles(answer.files, isTsModule);
  if (bad) return { ok: false, reason: bad };
  const paths = answer.files.map((f) => f.path);
  const missingFile = [req.modulePath, req.testPath].find((p) => !paths.includes(p));
  if (missingFile) return { ok: false, reason: `the model did not return ${missingFile}` };
  const module = answer.files.find((f) => f.path === req.modulePath)!;
  const missing = req.requiredExports.filter((n) => !exportedNames(module).includes(n));
  if (missing.length > 0) return { ok: false, reason: `the model's ${req.modulePath} does not export ${missing.join(', ')}` };

  const eslint = fixWithEslint(answer.files);
  const diagnostics = typecheck(tsFiles(eslint.files));
  if (diagnostics.length > 0) {
    return {
      ok: false,
      reason: `the model's files do not typecheck (${diagnostics.length} error${diagnostics.length === 1 ? '' : 's'}): ${diagnostics.slice(0, 3).map(describeDiagnostic).join('; ')}`,
    };
  }
  return {
    ok: true,
    model: answer.model,
    files: eslint.files,
    notes: answer.notes,
    lint: lintFiles(eslint.files),
    diagnostics,
    eslintFixed: eslint.fixed,
  };
}

/**
 * The files revised by the model for the findings left after the mechanical fixes. Accepted when
 * the paths are safe and the revision adds no type errors (the input need not typecheck under
 * NodeNext to begin with, so "no more errors than before" is the bar, not "none").
 */
export async function reviseWithModel(
  ctx: AgentContext,
  files: readonly InputFile[],
  findings: readonly ReviewFinding[],
): Promise<ModelWork> {
  const user = [
    'Review findings to resolve:',
    findings.map((f) => `- ${f.file}:${f.line} ${f.rule}${f.severity ? ` (${f.severity})` : ''}: ${f.message}`).join('\n'),
    'Return every file you change, complete; leave out files you do not change. Keep the exports and the tested behaviour unless a finding says they are wrong.',
    filesBlock(files, new Set(findings.map((f) => f.file))),
  ].join('\n\n');
  const answer = await ask(ctx, 'You are a senior TypeScript engineer revising code so that it passes review.', user);
  if ('reason' in answer) return { ok: false, reason: answer.reason };
  const existing = new Set(files.map((f) => f.path));
  const bad = unusableFiles(answer.files, (p) => existing.has(p) || isTsModule(p));
  if (bad) return { ok: false, reason: bad };

  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const f of answer.files) byPath.set(f.path, f);
  const eslint = fixWithEslint([...byPath.values()]);
  const before = typecheck(tsFiles(files));
  const diagnostics = typecheck(tsFiles(eslint.files));
  if (diagnostics.length > before.length) {
    return {
      ok: false,
      reason: `the model's revision adds type errors (${before.length} before, ${diagnostics.length} after): ${diagnostics.slice(0, 3).map(describeDiagnostic).join('; ')}`,
    };
  }
  return {
    ok: true,
    model: answer.model,
    files: eslint.files,
    notes: answer.notes,
    lint: lintFiles(eslint.files),
    diagnostics,
    eslintFixed: eslint.fixed,
  };
}
