// Writes the module and its node:test file from parsed exports. The output is plain erasable
// TypeScript (no enums, namespaces or parameter properties) so Node runs it without a build step.
import path from 'node:path';
import ts from 'typescript';
import type { ClassSpec, ExportSpec, FunctionSpec, ParamSpec } from './spec-parser.ts';

/** A single-quoted TS string literal. */
export function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\r?\n/g, '\\n')}'`;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function clip(sentence: string, max = 160): string {
  const one = sentence.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** The message an unimplemented body throws; tests match on its "not implemented: <name>" start. */
export function notImplemented(label: string, sentence: string): string {
  return `not implemented: ${label} — ${clip(sentence)}`;
}

function jsdoc(description: string, indent: string, extra: string[] = []): string {
  const lines =
    clip(description, 400)
      .replace(/\*\//g, '*\\/')
      .match(/.{1,96}(\s|$)/g) ?? [];
  const body = [...lines.map((l) => l.trim()), ...(extra.length > 0 ? ['', ...extra] : [])];
  return [`${indent}/**`, ...body.map((l) => (l === '' ? `${indent} *` : `${indent} * ${l}`)), `${indent} */`].join('\n');
}

const paramList = (params: ParamSpec[]): string => params.map((p) => p.text).join(', ');

function renderFunction(fn: FunctionSpec, label: string, method: boolean): string {
  const indent = method ? '  ' : '';
  const head = `${method ? '' : 'export '}${fn.async ? 'async ' : ''}${method ? '' : 'function '}${fn.name}${fn.typeParams}(${paramList(fn.params)}): ${fn.returns}`;
  return [
    jsdoc(fn.description, indent, ['@throws Error until it is implemented.']),
    `${indent}${head} {`,
    `${indent}  throw new Error(${quote(notImplemented(label, fn.sentence))});`,
    `${indent}}`,
  ].join('\n');
}

function renderClass(cls: ClassSpec): string {
  const members: string[] = [];
  if (cls.ctorParams) {
    members.push(
      [
        `  constructor(${paramList(cls.ctorParams)}) {`,
        `    throw new Error(${quote(notImplemented(`${cls.name} constructor`, cls.sentence))});`,
        '  }',
      ].join('\n'),
    );
  }
  for (const m of cls.methods) members.push(renderFunction(m, `${cls.name}.${m.name}`, true));
  return [jsdoc(cls.description, ''), `export class ${cls.name} {`, members.join('\n\n'), '}'].filter((l) => l !== '').join('\n');
}

export function renderModule(spec: string, exports: ExportSpec[], placeholders: string[]): string {
  const parts = [
    '// Scaffolded offline from the spec below: signatures and docs come from it, and every body throws',
    '// until someone writes it, so nothing can pass for working code by accident.',
    spec.trim() === '' ? '// Spec: given as structured exports.' : `// Spec: ${clip(spec, 200)}`,
  ];
  for (const name of placeholders) {
    parts.push(`/** The spec uses ${name} without defining it; replace unknown with its real shape. */\nexport type ${name} = unknown;`);
  }
  for (const e of exports) parts.push(e.kind === 'function' ? renderFunction(e, e.name, false) : renderClass(e));
  return `${parts.slice(0, 3).join('\n')}\n\n${parts.slice(3).join('\n\n')}\n`;
}

// ---- sample arguments -------------------------------------------------------------------------

interface SampleScope {
  placeholders: ReadonlySet<string>;
  typeParams: ReadonlyMap<string, ts.TypeNode | undefined>;
}

const builtinSamples: Record<string, string> = {
  Date: 'new Date(0)',
  RegExp: '/example/',
  URL: "new URL('https://example.com/')",
  Map: 'new Map()',
  Set: 'new Set()',
  Uint8Array: 'new Uint8Array()',
  Error: "new Error('example')",
  AbortSignal: 'new AbortController().signal',
  Request: "new Request('http://localhost/')",
};

/** A value of the written type, or undefined when none can be built without knowing more. */
function sampleOf(node: ts.TypeNode, sf: ts.SourceFile, scope: SampleScope): string | undefined {
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return "'example'";
    case ts.SyntaxKind.NumberKeyword:
      return '1';
    case ts.SyntaxKind.BooleanKeyword:
      return 'true';
    case ts.SyntaxKind.BigIntKeyword:
      return '1n';
    case ts.SyntaxKind.UnknownKeyword:
    case ts.SyntaxKind.AnyKeyword:
      return 'null';
    case ts.SyntaxKind.UndefinedKeyword:
    case ts.SyntaxKind.VoidKeyword:
      return 'undefined';
    case ts.SyntaxKind.ObjectKeyword:
      return '{}';
    case ts.SyntaxKind.SymbolKeyword:
      return "Symbol('example')";
    default:
      break; // the other kinds are built below, from their shape
  }
  if (ts.isLiteralTypeNode(node)) return node.literal.getText(sf);
  if (ts.isParenthesizedTypeNode(node)) return sampleOf(node.type, sf, scope);
  if (ts.isTypeOperatorNode(node) && node.operator === ts.SyntaxKind.ReadonlyKeyword) return sampleOf(node.type, sf, scope);
  if (ts.isArrayTypeNode(node)) return '[]';
  if (ts.isUnionTypeNode(node)) return node.types.map((t) => sampleOf(t, sf, scope)).find((s) => s !== undefined);
  if (ts.isFunctionTypeNode(node)) return "() => { throw new Error('not expected to be called'); }";
  if (ts.isTupleTypeNode(node)) {
    const items = node.elements.map((e) =>
      ts.isNamedTupleMember(e) ? (e.questionToken ? null : e.type) : ts.isOptionalTypeNode(e) ? null : e,
    );
    const samples = items.filter((t): t is ts.TypeNode => t !== null).map((t) => (ts.isRestTypeNode(t) ? '' : sampleOf(t, sf, scope)));
    return samples.some((s) => s === undefined) ? undefined : `[${samples.filter((s) => s !== '').join(', ')}]`;
  }
  if (ts.isTypeLiteralNode(node)) {
    const props: string[] = [];
    for (const member of node.members) {
      if (!ts.isPropertySignature(member) || !member.type || !ts.isIdentifier(member.name)) return undefined;
      if (member.questionToken) continue;
      const value = sampleOf(member.type, sf, scope);
      if (value === undefined) return undefined;
      props.push(`${member.name.text}: ${value}`);
    }
    return `{ ${props.join(', ')} }`.replace('{  }', '{}');
  }
  if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
    const name = node.typeName.text;
    const args = node.typeArguments ?? [];
    if (scope.placeholders.has(name)) return 'null';
    if (scope.typeParams.has(name)) {
      const constraint = scope.typeParams.get(name);
      return constraint ? sampleOf(constraint, sf, scope) : 'null';
    }
    if (name === 'Array' || name === 'ReadonlyArray') return '[]';
    if (name === 'Record' || name === 'Partial')
      return args[0] && args[0].kind !== ts.SyntaxKind.StringKeyword && name === 'Record' ? undefined : '{}';
    if (name === 'Promise') {
      const inner = args[0] ? sampleOf(args[0], sf, scope) : 'undefined';
      return inner === undefined ? undefined : `Promise.resolve(${inner})`;
    }
    return builtinSamples[name];
  }
  return undefined;
}

/** Arguments for the required parameters, or undefined if any cannot be built. */
function sampleArgs(fn: { typeParams: string; params: ParamSpec[] }, placeholders: ReadonlySet<string>): string[] | undefined {
  const code = `declare function f${fn.typeParams}(${paramList(fn.params)}): void;`;
  const sf = ts.createSourceFile('sample.ts', code, ts.ScriptTarget.ES2024, true);
  const decl = sf.statements[0];
  if (!decl || !ts.isFunctionDeclaration(decl)) return undefined;
  const typeParams = new Map((decl.typeParameters ?? []).map((t) => [t.name.text, t.constraint] as const));
  const args: string[] = [];
  for (const p of decl.parameters) {
    if (p.questionToken || p.initializer || p.dotDotDotToken) break;
    const sample = p.type ? sampleOf(p.type, sf, { placeholders, typeParams }) : 'null';
    if (sample === undefined) return undefined;
    args.push(sample);
  }
  return args;
}

/** What `fn.length` reports once types are stripped: parameters before the first default or rest. */
export function arity(params: ParamSpec[]): number {
  const cut = params.findIndex((p) => p.rest || /=/.test(p.text.replace(/=>/g, '')));
  return cut === -1 ? params.length : cut;
}

// ---- test file --------------------------------------------------------------------------------

function throwsCheck(call: string, label: string, isAsync: boolean): string {
  const pattern = `{ message: /^not implemented: ${escapeRegExp(label)}\\b/ }`;
  return isAsync ? `  await assert.rejects(${call}, ${pattern});` : `  assert.throws(() => ${call}, ${pattern});`;
}

export interface RenderedTest {
  content: string;
  /** Exports whose "not implemented" call could not be written because no argument of their type could be built. */
  uncalled: string[];
}

export function renderTest(modulePath: string, testPath: string, exports: ExportSpec[], placeholders: ReadonlySet<string>): RenderedTest {
  let specifier = path.posix.relative(path.posix.dirname(testPath), modulePath);
  if (!specifier.startsWith('.')) specifier = `./${specifier}`;
  const names = exports.map((e) => e.name);
  const blocks: string[] = [];
  const uncalled: string[] = [];

  for (const e of exports) {
    if (e.kind === 'function') {
      const n = arity(e.params);
      blocks.push(
        [
          `test('${e.name} is exported as a function of ${n} argument${n === 1 ? '' : 's'}', () => {`,
          `  assert.equal(typeof ${e.name}, 'function');`,
          `  assert.equal(${e.name}.length, ${n});`,
          '});',
        ].join('\n'),
      );
      const args = sampleArgs(e, placeholders);
      if (!args) uncalled.push(e.name);
      else
        blocks.push(
          [
            `test('${e.name} is not implemented yet', ${e.async ? 'async ' : ''}() => {`,
            throwsCheck(`${e.name}(${args.join(', ')})`, e.name, e.async),
            '});',
          ].join('\n'),
        );
      continue;
    }
    const shape = [`test('${e.name} is exported as a class', () => {`, `  assert.equal(typeof ${e.name}, 'function');`];
    if (e.ctorParams) shape.push(`  assert.equal(${e.name}.length, ${arity(e.ctorParams)});`);
    for (const m of e.methods)
      shape.push(
        `  assert.equal(typeof ${e.name}.prototype.${m.name}, 'function');`,
        `  assert.equal(${e.name}.prototype.${m.name}.length, ${arity(m.params)});`,
      );
    blocks.push([...shape, '});'].join('\n'));
    const ctorArgs = e.ctorParams ? sampleArgs({ typeParams: '', params: e.ctorParams }, placeholders) : [];
    if (e.ctorParams) {
      if (ctorArgs)
        blocks.push(
          [
            `test('${e.name} constructor is not implemented yet', () => {`,
            throwsCheck(`new ${e.name}(${ctorArgs.join(', ')})`, `${e.name} constructor`, false),
            '});',
          ].join('\n'),
        );
      else uncalled.push(`${e.name} constructor`);
    }
    for (const m of e.methods) {
      const args = sampleArgs(m, placeholders);
      if (!args) {
        uncalled.push(`${e.name}.${m.name}`);
        continue;
      }
      // While the constructor throws, methods are reached through an instance that skipped it.
      const instance = e.ctorParams
        ? `  const instance: ${e.name} = Object.create(${e.name}.prototype);`
        : `  const instance = new ${e.name}();`;
      blocks.push(
        [
          `test('${e.name}.${m.name} is not implemented yet', ${m.async ? 'async ' : ''}() => {`,
          instance,
          throwsCheck(`instance.${m.name}(${args.join(', ')})`, `${e.name}.${m.name}`, m.async),
          '});',
        ].join('\n'),
      );
    }
  }

  const header = [
    "import { test } from 'node:test';",
    "import assert from 'node:assert/strict';",
    `import { ${names.join(', ')} } from ${quote(specifier)};`,
    '',
    '// These pin down the scaffold: the exports exist with the arity the spec gives and say plainly that',
    '// they are unfinished. Replace the "not implemented" tests with behaviour tests as bodies are written.',
  ];
  return { content: `${header.join('\n')}\n\n${blocks.join('\n\n')}\n`, uncalled };
}
