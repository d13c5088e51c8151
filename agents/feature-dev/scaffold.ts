// The offline path from spec to code: a typed module whose bodies throw "not implemented" and a
// node:test file that pins its exports. It is also what the model starts from when there is one.
import path from 'node:path';
import { unsafePathReason, type InputFile } from '../../services/tooling/index.ts';
import { lintFiles } from '../../services/tooling/lint.ts';
import { TaskFailedError, type AgentContext, type AgentOutput } from '../sdk/index.ts';
import { renderModule, renderTest } from './render.ts';
import {
  assumedFunction,
  exportNameFor,
  isIdentifier,
  isValidType,
  kebab,
  parseSpec,
  type ExportSpec,
  type FunctionSpec,
} from './spec-parser.ts';
import { typecheck, type TypecheckDiagnostic } from './typecheck.ts';

export interface ExportInput {
  name: string;
  params?: Array<{ name: string; type?: string; optional?: boolean }>;
  returns?: string;
  description?: string;
}

export interface ScaffoldInput {
  module?: string;
  exports?: ExportInput[];
}

export interface Scaffold {
  output: AgentOutput;
  modulePath: string;
  testPath: string;
  exports: ExportSpec[];
  files: InputFile[];
}

function fromStructured(exports: ExportInput[], sentence: string): FunctionSpec[] {
  return exports.map((e) => {
    if (!isIdentifier(e.name)) throw new TaskFailedError(`export name ${JSON.stringify(e.name)} is not a valid identifier`);
    const params = (e.params ?? []).map((p) => {
      const type = p.type ?? 'unknown';
      if (!isIdentifier(p.name)) throw new TaskFailedError(`parameter ${JSON.stringify(p.name)} of ${e.name} is not a valid identifier`);
      if (!isValidType(type))
        throw new TaskFailedError(`parameter ${p.name} of ${e.name} has type ${JSON.stringify(type)}, which does not parse as TypeScript`);
      return { name: p.name, type, optional: p.optional === true, rest: false, text: `${p.name}${p.optional ? '?' : ''}: ${type}` };
    });
    const returns = e.returns ?? 'unknown';
    if (!isValidType(returns))
      throw new TaskFailedError(`return type ${JSON.stringify(returns)} of ${e.name} does not parse as TypeScript`);
    const description = e.description ?? sentence;
    return {
      kind: 'function',
      name: e.name,
      typeParams: '',
      params,
      returns,
      signatureGiven: true,
      returnGiven: e.returns !== undefined,
      async: /^Promise\s*</.test(returns),
      sentence: description,
      description,
    };
  });
}

/** "slugify utility" → src/slugify-utility.ts; a path with a folder is kept as given. */
function modulePathFor(name: string): string {
  const cleaned = name.trim().replace(/\\/g, '/').replace(/^\.\//, '');
  const reason = unsafePathReason(cleaned);
  if (reason) throw new TaskFailedError(`module ${JSON.stringify(name)} is not a usable path: ${reason}`);
  const withExt = /\.(?:[cm]?[jt]s)$/.test(cleaned)
    ? cleaned.replace(/\.[cm]?[jt]s$/, '.ts')
    : `${cleaned.includes('/') ? cleaned : kebab(cleaned)}.ts`;
  return withExt.includes('/') ? withExt : `src/${withExt}`;
}

function labels(exports: ExportSpec[]): Array<{ label: string; sentence: string }> {
  return exports.flatMap((e) =>
    e.kind === 'function'
      ? [{ label: e.name, sentence: e.sentence }]
      : [
          ...(e.ctorParams ? [{ label: `${e.name} constructor`, sentence: e.sentence }] : []),
          ...e.methods.map((m) => ({ label: `${e.name}.${m.name}`, sentence: m.sentence })),
        ],
  );
}

/** The offline output for `text`, plus the paths and exports a model must keep when it writes the code instead. */
export function scaffold(input: ScaffoldInput, ctx: AgentContext, text: string): Scaffold {
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
    const missing = typecheck([{ path: modulePath, content: renderModule(text, exports, placeholders) }]).flatMap((d) =>
      d.missingName && !names.includes(d.missingName) && !placeholders.includes(d.missingName) ? [d.missingName] : [],
    );
    if (missing.length === 0) break;
    placeholders = [...new Set([...placeholders, ...missing])];
  }
  const moduleFile = { path: modulePath, content: renderModule(text, exports, placeholders) };
  const test = renderTest(modulePath, testPath, exports, new Set(placeholders));
  const testFile = { path: testPath, content: test.content };
  ctx.signal.throwIfAborted();
  const diagnostics: TypecheckDiagnostic[] = typecheck([moduleFile, testFile]);
  const lint = lintFiles([moduleFile, testFile]).filter((f) => f.rule !== 'todo-comment');

  const bodies = labels(exports);
  const todo = [
    ...bodies.map((b) => `write the body of ${b.label} (spec: "${b.sentence}")`),
    ...exports.flatMap((e) =>
      e.kind === 'function' && !e.signatureGiven
        ? [`choose the parameters and return type of ${e.name}: the spec names no signature, so it is (input: unknown): unknown`]
        : [],
    ),
    ...exports.flatMap((e) =>
      e.kind === 'function' && e.signatureGiven && !e.returnGiven
        ? [`choose the return type of ${e.name}: the spec gives none, so it returns unknown`]
        : [],
    ),
    ...exports.flatMap((e) =>
      e.kind === 'class' && e.methods.length === 0 ? [`define the members of class ${e.name}: the spec names none`] : [],
    ),
    ...placeholders.map((p) => `define type ${p}, which the spec uses without defining (it is unknown for now)`),
    ...test.uncalled.map((u) => `add a "not implemented" call test for ${u}: no argument of its parameter types could be built offline`),
    `replace the "not implemented" tests in ${testPath} with tests of the behaviour the spec describes`,
    ...diagnostics.map((d) => `fix ${d.file}:${d.line} TS${d.code}: ${d.message}`),
    ...lint.map((f) => `fix ${f.file}:${f.line} ${f.rule}: ${f.message}`),
  ];
  const checked =
    diagnostics.length === 0
      ? 'both typecheck (strict, NodeNext)'
      : `${diagnostics.length} type error${diagnostics.length === 1 ? '' : 's'} remain`;
  ctx.log.debug({ module: modulePath, exports: names, diagnostics: diagnostics.length }, 'feature scaffold generated');
  const output = {
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
  return { output, modulePath, testPath, exports, files: [moduleFile, testFile] };
}
