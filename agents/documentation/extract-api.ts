import ts from 'typescript';
import { inputPathOf } from '../../services/tooling/in-memory-program.ts';

export interface ParamDoc {
  name: string;
  type: string;
  optional: boolean;
  description: string;
}

export interface JsDoc {
  description: string;
  params: Map<string, string>;
  returns: string | undefined;
  examples: string[];
  deprecated: string | undefined;
  /** Other block tags (@throws, @see, @since...) in source order. */
  tags: Array<{ name: string; text: string }>;
}

export interface MemberDoc {
  signature: string;
  description: string;
}

export type ApiSymbol =
  | { kind: 'function'; name: string; doc: JsDoc; signatures: string[]; params: ParamDoc[]; returnType: string }
  | { kind: 'class'; name: string; doc: JsDoc; heritage: string; constructors: string[]; members: MemberDoc[] }
  | { kind: 'interface' | 'type'; name: string; doc: JsDoc; declaration: string; members: MemberDoc[] }
  | { kind: 'enum'; name: string; doc: JsDoc; members: MemberDoc[] }
  | { kind: 'variable' | 'namespace'; name: string; doc: JsDoc; declaration: string };

export interface FileApi {
  path: string;
  symbols: ApiSymbol[];
  /** Names this file re-exports from elsewhere; they are documented where they are declared. */
  reexports: Array<{ name: string; from: string }>;
}

const FORMAT = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope;

/** Source text on one line, without `export`/`declare` and the trailing separator. */
function flatText(node: ts.Node): string {
  return node
    .getText()
    .replace(/\s+/g, ' ')
    .replace(/^(?:export\s+)?(?:default\s+)?(?:declare\s+)?/, '')
    .replace(/[;,]\s*$/, '');
}

function parameterText(param: ts.ParameterDeclaration): string {
  return param
    .getText()
    .replace(/\s+/g, ' ')
    .replace(/^(?:(?:public|private|protected|readonly|override)\s+)+/, '');
}

function commentText(comment: string | ts.NodeArray<ts.JSDocComment> | undefined): string {
  return (ts.getTextOfJSDocComment(comment) ?? '').trim();
}

function readJsDoc(checker: ts.TypeChecker, symbol: ts.Symbol, decl: ts.Node): JsDoc {
  const doc: JsDoc = {
    description: ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim(),
    params: new Map(),
    returns: undefined,
    examples: [],
    deprecated: undefined,
    tags: [],
  };
  for (const tag of ts.getJSDocTags(decl)) {
    const text = commentText(tag.comment);
    if (ts.isJSDocParameterTag(tag)) doc.params.set(tag.name.getText(), text.replace(/^-\s*/, ''));
    else if (ts.isJSDocReturnTag(tag)) doc.returns = text.replace(/^-\s*/, '');
    else if (ts.isJSDocDeprecatedTag(tag)) doc.deprecated = text;
    else if (tag.tagName.text === 'example') doc.examples.push(text);
    else if (!ts.isJSDocTypeTag(tag) && !ts.isJSDocTemplateTag(tag)) doc.tags.push({ name: tag.tagName.text, text });
  }
  return doc;
}

function memberDescription(checker: ts.TypeChecker, member: ts.Node & { name?: ts.Node }): string {
  const symbol = member.name ? checker.getSymbolAtLocation(member.name) : undefined;
  return symbol ? ts.displayPartsToString(symbol.getDocumentationComment(checker)).replace(/\s+/g, ' ').trim() : '';
}

function isPublic(member: ts.ClassElement | ts.ParameterDeclaration): boolean {
  if (member.name && ts.isPrivateIdentifier(member.name)) return false;
  const flags = ts.getCombinedModifierFlags(member);
  return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0;
}

function modifierPrefix(node: ts.Declaration): string {
  const flags = ts.getCombinedModifierFlags(node);
  return `${flags & ts.ModifierFlags.Static ? 'static ' : ''}${flags & ts.ModifierFlags.Abstract ? 'abstract ' : ''}${flags & ts.ModifierFlags.Readonly ? 'readonly ' : ''}`;
}

function signatureText(checker: ts.TypeChecker, node: ts.SignatureDeclaration): string {
  const signature = checker.getSignatureFromDeclaration(node);
  return signature ? checker.signatureToString(signature, node, FORMAT) : '()';
}

function classMembers(checker: ts.TypeChecker, decl: ts.ClassLikeDeclaration): MemberDoc[] {
  const members: MemberDoc[] = [];
  const ctor = decl.members.find(ts.isConstructorDeclaration);
  // Constructor parameter properties (`constructor(public x: T)`) are public fields too.
  for (const param of ctor?.parameters ?? []) {
    if (!ts.isParameterPropertyDeclaration(param, ctor!) || !isPublic(param)) continue;
    members.push({
      signature: `${modifierPrefix(param)}${param.name.getText()}: ${param.type ? flatText(param.type) : checker.typeToString(checker.getTypeAtLocation(param))}`,
      description: memberDescription(checker, param),
    });
  }
  for (const member of decl.members) {
    if (
      ts.isConstructorDeclaration(member) ||
      ts.isSemicolonClassElement(member) ||
      ts.isClassStaticBlockDeclaration(member) ||
      !isPublic(member)
    )
      continue;
    const name = member.name?.getText() ?? '';
    let signature: string;
    if (ts.isPropertyDeclaration(member)) {
      const type = member.type ? flatText(member.type) : checker.typeToString(checker.getTypeAtLocation(member), member, FORMAT);
      signature = `${modifierPrefix(member)}${name}${member.questionToken ? '?' : ''}: ${type}`;
    } else if (ts.isMethodDeclaration(member)) {
      // With overloads, the implementation signature is not part of the public API.
      const overloaded = decl.members.some((m) => m !== member && ts.isMethodDeclaration(m) && m.name.getText() === name && !m.body);
      if (member.body && overloaded) continue;
      signature = `${modifierPrefix(member)}${name}${signatureText(checker, member)}`;
    } else if (ts.isGetAccessorDeclaration(member) || ts.isSetAccessorDeclaration(member)) {
      signature = `${modifierPrefix(member)}${ts.isGetAccessor(member) ? 'get' : 'set'} ${name}${signatureText(checker, member)}`;
    } else {
      signature = flatText(member);
    }
    members.push({ signature, description: memberDescription(checker, member) });
  }
  return members;
}

function typeMembers(checker: ts.TypeChecker, members: ts.NodeArray<ts.TypeElement>): MemberDoc[] {
  return members.map((m) => ({ signature: flatText(m), description: memberDescription(checker, m) }));
}

function functionSymbol(checker: ts.TypeChecker, name: string, symbol: ts.Symbol, decl: ts.Declaration): ApiSymbol {
  const type = checker.getTypeOfSymbolAtLocation(symbol, decl);
  const signatures = type.getCallSignatures();
  const doc = readJsDoc(checker, symbol, decl);
  const first = signatures[0];
  // `export default function main()` is exported as `default` but still written as `main`.
  const calledAs = name === 'default' && ts.isFunctionDeclaration(decl) && decl.name ? decl.name.text : name;
  const params: ParamDoc[] = (first?.getParameters() ?? []).map((p) => {
    const pDecl = p.valueDeclaration;
    const display = pDecl && ts.isParameter(pDecl) ? `${pDecl.dotDotDotToken ? '...' : ''}${pDecl.name.getText()}` : p.name;
    return {
      name: display,
      type: checker.typeToString(checker.getTypeOfSymbolAtLocation(p, pDecl ?? decl), pDecl, FORMAT),
      optional: pDecl !== undefined && ts.isParameter(pDecl) && checker.isOptionalParameter(pDecl),
      description: doc.params.get(p.name) ?? doc.params.get(display.replace(/^\.\.\./, '')) ?? '',
    };
  });
  return {
    kind: 'function',
    name,
    doc,
    signatures: signatures.map((s) => `function ${calledAs}${checker.signatureToString(s, decl, FORMAT)}`),
    params,
    returnType: first ? checker.typeToString(first.getReturnType(), decl, FORMAT) : 'void',
  };
}

function describeSymbol(checker: ts.TypeChecker, name: string, symbol: ts.Symbol, decl: ts.Declaration): ApiSymbol | undefined {
  const doc = (): JsDoc => readJsDoc(checker, symbol, decl);
  const flags = symbol.flags;
  if (flags & ts.SymbolFlags.Class && (ts.isClassDeclaration(decl) || ts.isClassExpression(decl))) {
    const ctors = decl.members.filter(ts.isConstructorDeclaration);
    const publicCtors = ctors.filter((c) => isPublic(c) && (ctors.length === 1 || !c.body));
    const constructors = publicCtors.map((c) => `new ${name}(${c.parameters.map(parameterText).join(', ')})`);
    const heritage = (decl.heritageClauses ?? []).map((h) => h.getText()).join(' ');
    return { kind: 'class', name, doc: doc(), heritage, constructors, members: classMembers(checker, decl) };
  }
  if (
    flags & ts.SymbolFlags.Function ||
    (flags & ts.SymbolFlags.Variable &&
      ts.isVariableDeclaration(decl) &&
      decl.initializer &&
      (ts.isArrowFunction(decl.initializer) || ts.isFunctionExpression(decl.initializer)) &&
      !decl.type)
  ) {
    return functionSymbol(checker, name, symbol, decl);
  }
  if (flags & ts.SymbolFlags.Interface && ts.isInterfaceDeclaration(decl)) {
    return {
      kind: 'interface',
      name,
      doc: doc(),
      declaration: flatText(decl).replace(/\{.*$/, '').trim(),
      members: typeMembers(checker, decl.members),
    };
  }
  if (flags & ts.SymbolFlags.TypeAlias && ts.isTypeAliasDeclaration(decl)) {
    const members = ts.isTypeLiteralNode(decl.type) ? typeMembers(checker, decl.type.members) : [];
    return { kind: 'type', name, doc: doc(), declaration: decl.getText().replace(/^(?:export\s+)?(?:declare\s+)?/, ''), members };
  }
  if (flags & ts.SymbolFlags.Enum && ts.isEnumDeclaration(decl)) {
    const members = decl.members.map((m) => {
      const value = checker.getConstantValue(m);
      return {
        signature: `${m.name.getText()}${value === undefined ? '' : ` = ${JSON.stringify(value)}`}`,
        description: memberDescription(checker, m),
      };
    });
    return { kind: 'enum', name, doc: doc(), members };
  }
  if (flags & ts.SymbolFlags.Variable && ts.isVariableDeclaration(decl)) {
    const keyword = decl.parent.flags & ts.NodeFlags.Const ? 'const' : decl.parent.flags & ts.NodeFlags.Let ? 'let' : 'var';
    const type = decl.type ? flatText(decl.type) : checker.typeToString(checker.getTypeOfSymbolAtLocation(symbol, decl), decl, FORMAT);
    return { kind: 'variable', name, doc: doc(), declaration: `${keyword} ${name}: ${type}` };
  }
  if (flags & ts.SymbolFlags.Module) {
    const exported = checker
      .getExportsOfModule(symbol)
      .map((s) => s.name)
      .sort();
    return { kind: 'namespace', name, doc: doc(), declaration: `namespace ${name} { ${exported.join(', ')} }` };
  }
  if (ts.isExportAssignment(decl)) {
    const type = checker.typeToString(checker.getTypeAtLocation(decl.expression), decl, FORMAT);
    return { kind: 'variable', name, doc: doc(), declaration: `${name}: ${type}` };
  }
  return undefined;
}

/** The public API of each root file, in path order; symbols keep their source order. */
export function extractApi(
  program: ts.Program,
  roots: ReadonlyArray<{ path: string; sourceFile: ts.SourceFile }>,
  signal: AbortSignal,
): FileApi[] {
  const checker = program.getTypeChecker();
  return roots.map(({ path, sourceFile }) => {
    signal.throwIfAborted();
    const api: FileApi = { path, symbols: [], reexports: [] };
    const moduleSymbol = checker.getSymbolAtLocation(sourceFile);
    if (!moduleSymbol) return api;
    const entries: Array<{ pos: number; symbol: ApiSymbol }> = [];
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const decl = target.declarations?.[0];
      if (!decl) continue;
      if (decl.getSourceFile() !== sourceFile) {
        const from = inputPathOf(decl.getSourceFile().fileName);
        if (from) api.reexports.push({ name: exported.name, from });
        continue;
      }
      const symbol = describeSymbol(checker, exported.name, target, decl);
      if (symbol) entries.push({ pos: decl.getStart(), symbol });
    }
    api.symbols = entries.sort((a, b) => a.pos - b.pos || (a.symbol.name < b.symbol.name ? -1 : 1)).map((e) => e.symbol);
    api.reexports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return api;
  });
}
