import path from 'node:path';
import { Type } from 'typebox';
import { collectFiles, lintSourceFile, parseSource, unsafePathReason, type InputFile } from '../../services/tooling/index.ts';
import { defineAgent, TaskFailedError, type AgentContext, type AgentOutput } from '../sdk/index.ts';
import { applyFindings, findingsFrom, type ReviewFinding } from './fixes.ts';
import { renderModule, renderTest } from './render.ts';
import { assumedFunction, exportNameFor, isIdentifier, isValidType, kebab, parseSpec, type ExportSpec, type FunctionSpec } from './spec-parser.ts';
import { typecheck, type TypecheckDiagnostic } from './typecheck.ts';

export interface ExportInput {
  name: string;
  params?: Array<{ name: string; type?: string; optional?: boolean }>;
  returns?: string;
  description?: string;
}

export interface FeatureDevInput {
  spec?: string;
  task?: string;
  module?: string;
  exports?: ExportInput[];
  language?: string;
  /** Files to apply review findings to (the findings come from ctx.dependencies or input.feedback). */
  files?: InputFile[];
  /** Set by a workflow loop: what the step that sent the work back said (e.g. a rejecting review). */
  feedback?: { step?: string; output?: unknown };
  /** Set by a workflow loop: this agent's previous output, whose files the revision starts from. */
  previous_output?: { files?: InputFile[] } | null;
}

const open = { additionalProperties: true };
export const FeatureDevInputSchema = Type.Object(
  {
    spec: Type.Optional(Type.String()),
    task: Type.Optional(Type.String()),
    module: Type.Optional(Type.String({ minLength: 1 })),
    exports: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ minLength: 1 }),
            params: Type.Optional(Type.Array(Type.Object({ name: Type.String({ minLength: 1 }), type: Type.Optional(Type.String()), optional: Type.Optional(Type.Boolean()) }, open))),
            returns: Type.Optional(Type.String()),
            description: Type.Optional(Type.String()),
          },
          open,
        ),
      ),
    ),
    language: Type.Optional(Type.String()),
    files: Type.Optional(Type.Array(Type.Object({ path: Type.String({ minLength: 1 }), content: Type.String() }, open))),
  },
  open,
);

function fromStructured(exports: ExportInput[], sentence: string): FunctionSpec[] {
  return exports.map((e) => {
    if (!isIdentifier(e.name)) throw new TaskFailedError(`export name ${JSON.stringify(e.name)} is not a valid identifier`);
    const params = (e.params ?? []).map((p) => {
      const type = p.type ?? 'unknown';
      if (!isIdentifier(p.name)) throw new TaskFailedError(`parameter ${JSON.stringify(p.name)} of ${e.name} is not a valid identifier`);
      if (!isValidType(type)) throw new TaskFailedError(`parameter ${p.name} of ${e.name} has type ${JSON.stringify(type)}, which does not parse as TypeScript`);
      return { name: p.name, type, optional: p.optional === true, rest: false, text: `${p.name}${p.optional ? '?' : ''}: ${type}` };
    });
    const returns = e.returns ?? 'unknown';
    if (!isValidType(returns)) throw new TaskFailedError(`return type ${JSON.stringify(returns)} of ${e.name} does not parse as TypeScript`);
    const description = e.description ?? sentence;
    return { kind: 'function', name: e.name, typeParams: '', params, returns, signatureGiven: true, returnGiven: e.returns !== undefined, async: /^Promise\s*</.test(returns), sentence: description, description };
  });
}

/** "slugify utility" → src/slugify-utility.ts; a path with a folder is kept as given. */
function modulePathFor(name: string): string {
  const cleaned = name.trim().replace(/\\/g, '/').replace(/^\.\//, '');
  const reason = unsafePathReason(cleaned);
  if (reason) throw new TaskFailedError(`module ${JSON.stringify(name)} is not a usable path: ${reason}`);
  const withExt = /\.(?:[cm]?[jt]s)$/.test(cleaned) ? cleaned.replace(/\.[cm]?[jt]s$/, '.ts') : `${cleaned.includes('/') ? cleaned : kebab(cleaned)}.ts`;
  return withExt.includes('/') ? withExt : `src/${withExt}`;
}

function labels(exports: ExportSpec[]): Array<{ label: string; sentence: string }> {
  return exports.flatMap((e) =>
    e.kind === 'function'
      ? [{ label: e.name, sentence: e.sentence }]
      : [...(e.ctorParams ? [{ label: `${e.name} constructor`, sentence: e.sentence }] : []), ...e.methods.map((m) => ({ label: `${e.name}.${m.name}`, sentence: m.sentence }))],
  );
}

function fixOutput(files: InputFile[], findings: ReviewFinding[]): AgentOutput {
  const report = applyFindings(files, findings);
  const changed = report.files.filter((f) => files.find((o) => o.path === f.path)?.content !== f.content);
  return {
    files: report.files,
    exports: [],
    implemented: false,
    fixed: report.fixed,
    unfixed: report.unfixed,
    todo: report.unfixed.map((u) => `${u.file}:${u.line} ${u.rule}: ${u.message} (not fixed: ${u.reason})`),
    summary: `Applied ${report.fixed.length} of ${findings.length} review finding${findings.length === 1 ? '' : 's'} mechanically in ${changed.length} file${changed.length === 1 ? '' : 's'}; ${report.unfixed.length} left for a person or an LLM`,
  };
}

/** Files and nothing to build or fix: they go on as they are, checked, for the next step to judge. */
function handOver(files: InputFile[]): AgentOutput {
  for (const f of files) {
    const reason = unsafePathReason(f.path);
    if (reason) throw new TaskFailedError(`file ${JSON.stringify(f.path)} is not a usable path: ${reason}`);
  }
  return {
    files,
    exports: [],
    implemented: false,
    todo: [],
    summary: `No spec and no findings: handed on ${files.length} file${files.length === 1 ? '' : 's'} unchanged`,
  };
}

function generate(input: FeatureDevInput, ctx: AgentContext, text: string): AgentOutput {
  const parsed = parseSpec(text);
  const firstSentence = parsed.firstSentence || text.trim();
  let exports: ExportSpec[] = input.exports && input.exports.length > 0 ? fromStructured(input.exports, firstSentence) : parsed.exports;
  const phrase = input.module ?? parsed.moduleName;
  if (exports.length === 0) {
    if (!phrase) {
      throw new TaskFailedError(
        'feature-dev needs to know what to build: a spec or task naming a feature ("Build feature slugify utility") or a signature ' +
          '("Create slugify(text: string): string"), or input.module / input.exports',
      );
    }
    exports = [assumedFunction(exportNameFor(path.posix.basename(phrase).replace(/\.[cm]?[jt]s$/, '')), firstSentence)];
  }
  const names = exports.map((e) => e.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) throw new TaskFailedError(`export ${duplicate} is named twice`);
  const modulePath = modulePathFor(phrase ?? exports[0].name);
  const testPath = `tests/${path.posix.basename(modulePath, '.ts')}.test.ts`;

  // Types the spec uses but never defines become `unknown` aliases, found by asking the checker.
  let placeholders: string[] = [];
  for (let round = 0; round < 3; round++) {
    ctx.signal.throwIfAborted();
    const missing = typecheck([{ path: modulePath, content: renderModule(text, exports, placeholders) }])
      .flatMap((d) => (d.missingName && !names.includes(d.missingName) && !placeholders.includes(d.missingName) ? [d.missingName] : []));
    if (missing.length === 0) break;
    placeholders = [...new Set([...placeholders, ...missing])];
  }
  const moduleFile = { path: modulePath, content: renderModule(text, exports, placeholders) };
  const test = renderTest(modulePath, testPath, exports, new Set(placeholders));
  const testFile = { path: testPath, content: test.content };
  ctx.signal.throwIfAborted();
  const diagnostics: TypecheckDiagnostic[] = typecheck([moduleFile, testFile]);
  const lint = [moduleFile, testFile].flatMap((f) => lintSourceFile(parseSource(f), f.path)).filter((f) => f.rule !== 'todo-comment');

  const bodies = labels(exports);
  const todo = [
    ...bodies.map((b) => `write the body of ${b.label} (spec: "${b.sentence}")`),
    ...exports.flatMap((e) => (e.kind === 'function' && !e.signatureGiven ? [`choose the parameters and return type of ${e.name}: the spec names no signature, so it is (input: unknown): unknown`] : [])),
    ...exports.flatMap((e) => (e.kind === 'function' && e.signatureGiven && !e.returnGiven ? [`choose the return type of ${e.name}: the spec gives none, so it returns unknown`] : [])),
    ...exports.flatMap((e) => (e.kind === 'class' && e.methods.length === 0 ? [`define the members of class ${e.name}: the spec names none`] : [])),
    ...placeholders.map((p) => `define type ${p}, which the spec uses without defining (it is unknown for now)`),
    ...test.uncalled.map((u) => `add a "not implemented" call test for ${u}: no argument of its parameter types could be built offline`),
    `replace the "not implemented" tests in ${testPath} with tests of the behaviour the spec describes`,
    ...diagnostics.map((d) => `fix ${d.file}:${d.line} TS${d.code}: ${d.message}`),
    ...lint.map((f) => `fix ${f.file}:${f.line} ${f.rule}: ${f.message}`),
  ];
  const checked = diagnostics.length === 0 ? 'both typecheck (strict, NodeNext)' : `${diagnostics.length} type error${diagnostics.length === 1 ? '' : 's'} remain`;
  ctx.log.debug({ module: modulePath, exports: names, diagnostics: diagnostics.length }, 'feature scaffold generated');
  return {
    files: [moduleFile, testFile],
    module: modulePath,
    test: testPath,
    exports: names,
    implemented: false,
    placeholders,
    typecheck: { ok: diagnostics.length === 0, diagnostics },
    lint,
    todo,
    notes: [
      'The module uses ESM and the test imports it with a .ts extension: the project needs "type": "module" and, for tsc, allowImportingTsExtensions (with noEmit or rewriteRelativeImportExtensions).',
      `Run the test with: node --test ${testPath}`,
    ],
    summary:
      `Scaffolded ${modulePath} (${names.join(', ')}) and ${testPath}; ${checked}. Not implemented: offline, without an LLM, ` +
      `it cannot write logic, so ${bodies.length} bod${bodies.length === 1 ? 'y throws' : 'ies throw'} "not implemented" until written`,
  };
}

export const featureDevAgent = defineAgent<FeatureDevInput>({
  name: 'feature-dev',
  description:
    'Turns a feature spec into a typed TypeScript module scaffold (signatures and docs from the spec, bodies that throw "not implemented") ' +
    'plus a node:test file, and applies mechanical fixes (var, ==, debugger, console) from upstream findings.',
  capabilities: [
    'build feature',
    'implement feature',
    'implement functionality',
    'write code',
    'develop module',
    'create module',
    'create function',
    'create class',
    'add endpoint',
    'add function',
    'scaffold module',
    'scaffold',
    'generate code',
    'fix findings',
    'apply fixes',
  ],
  inputSchema: FeatureDevInputSchema,
  async execute(input, ctx) {
    ctx.signal.throwIfAborted();
    if (input.language !== undefined && input.language.toLowerCase() !== 'typescript') {
      throw new TaskFailedError(`language ${JSON.stringify(input.language)} is not supported; feature-dev writes TypeScript only`);
    }
    // A revision starts from the previous attempt's files and the findings that sent it back.
    const findings = [...findingsFrom(ctx.dependencies), ...(input.feedback?.output ? findingsFrom({ [input.feedback.step ?? 'feedback']: input.feedback.output }) : [])];
    const previous = Array.isArray(input.previous_output?.files) ? input.previous_output.files : undefined;
    if (findings.length > 0) {
      const collected = previous ? { ok: true as const, files: previous } : collectFiles(input, ctx.dependencies);
      if (collected.ok) return fixOutput(collected.files, findings);
    }
    const own = [input.spec, input.task].find((t) => t !== undefined && t.trim() !== '');
    if (own === undefined && !input.exports?.length && !input.module && (previous ?? input.files)?.length) return handOver(previous ?? input.files!);
    return generate(input, ctx, own ?? ctx.description ?? '');
  },
});
