import type { ApiSymbol, FileApi, JsDoc, MemberDoc, ParamDoc } from './extract-api.ts';

const KIND_LABEL: Record<ApiSymbol['kind'], string> = {
  function: 'Functions',
  class: 'Classes',
  interface: 'Interfaces',
  type: 'Type aliases',
  enum: 'Enums',
  variable: 'Constants and variables',
  namespace: 'Namespaces',
};
const KIND_ORDER = Object.keys(KIND_LABEL) as Array<ApiSymbol['kind']>;

/** Inline code that survives backticks inside the text (template literal types have them). */
function code(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  return longest > 0 ? `${fence} ${text} ${fence}` : `${fence}${text}${fence}`;
}

function codeBlock(text: string, lang = 'ts'): string {
  const longest = Math.max(2, ...(text.match(/`{3,}/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${lang}\n${text}\n${fence}`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
export function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function renderDoc(doc: JsDoc): string[] {
  const out: string[] = [];
  if (doc.deprecated !== undefined) out.push(`> **Deprecated.** ${doc.deprecated}`.trim(), '');
  if (doc.description) out.push(doc.description, '');
  return out;
}

function renderTail(doc: JsDoc): string[] {
  const out: string[] = [];
  for (const tag of doc.tags) out.push(`**@${tag.name}** ${tag.text}`.trim(), '');
  for (const example of doc.examples) {
    // An @example may already carry its own fenced block; do not nest fences.
    out.push('**Example**', '', example.includes('```') ? example : codeBlock(example), '');
  }
  return out;
}

function renderParams(params: ParamDoc[]): string[] {
  if (params.length === 0) return [];
  const rows = params.map(
    (p) => `| ${code(p.name)}${p.optional ? ' *(optional)*' : ''} | ${cell(code(p.type))} | ${cell(p.description)} |`,
  );
  return ['| Parameter | Type | Description |', '| --- | --- | --- |', ...rows, ''];
}

function renderMembers(title: string, members: MemberDoc[]): string[] {
  if (members.length === 0) return [];
  const rows = members.map((m) => `| ${cell(code(m.signature))} | ${cell(m.description)} |`);
  return [`**${title}**`, '', `| ${title.replace(/s$/, '')} | Description |`, '| --- | --- |', ...rows, ''];
}

function renderSymbol(symbol: ApiSymbol): string[] {
  const out = [`#### ${code(symbol.name)}`, ''];
  switch (symbol.kind) {
    case 'function':
      out.push(codeBlock(symbol.signatures.join('\n')), '', ...renderDoc(symbol.doc), ...renderParams(symbol.params));
      out.push(`**Returns** ${code(symbol.returnType)}${symbol.doc.returns ? ` — ${symbol.doc.returns}` : ''}`, '');
      break;
    case 'class':
      out.push(codeBlock(`class ${symbol.name}${symbol.heritage ? ` ${symbol.heritage}` : ''}`), '', ...renderDoc(symbol.doc));
      if (symbol.constructors.length > 0) out.push('**Constructor**', '', codeBlock(symbol.constructors.join('\n')), '');
      out.push(...renderMembers('Members', symbol.members));
      break;
    case 'interface':
    case 'type':
      out.push(codeBlock(symbol.declaration), '', ...renderDoc(symbol.doc), ...renderMembers('Members', symbol.members));
      break;
    case 'enum':
      out.push(codeBlock(`enum ${symbol.name}`), '', ...renderDoc(symbol.doc), ...renderMembers('Members', symbol.members));
      break;
    case 'variable':
    case 'namespace':
      out.push(codeBlock(symbol.declaration), '', ...renderDoc(symbol.doc));
      break;
  }
  out.push(...renderTail(symbol.doc));
  return out;
}

/**
 * One Markdown document for all files: a contents list, then each file's symbols grouped by kind,
 * after the file's overview paragraph when one is given.
 */
export function renderMarkdown(title: string, files: FileApi[], overviews: ReadonlyMap<string, string> = new Map()): string {
  const documented = files.filter((f) => f.symbols.length > 0 || f.reexports.length > 0);
  const total = documented.reduce((n, f) => n + f.symbols.length, 0);
  const out = [`# ${title}`, ''];
  if (documented.length === 0) {
    out.push('No exported symbols were found.', '');
    return out.join('\n');
  }
  out.push(`${total} exported symbol${total === 1 ? '' : 's'} in ${documented.length} file${documented.length === 1 ? '' : 's'}.`, '');
  for (const file of documented) {
    const reexports = file.reexports.length > 0 ? `, ${file.reexports.length} re-exported` : '';
    out.push(
      `- [${code(file.path)}](#${anchorOf(file.path)}) (${file.symbols.length} symbol${file.symbols.length === 1 ? '' : 's'}${reexports})`,
    );
  }
  out.push('');
  for (const file of documented) {
    out.push(`## ${code(file.path)}`, '');
    const overview = overviews.get(file.path);
    if (overview) out.push(overview, '');
    for (const kind of KIND_ORDER) {
      const symbols = file.symbols.filter((s) => s.kind === kind);
      if (symbols.length === 0) continue;
      out.push(`### ${KIND_LABEL[kind]}`, '');
      for (const symbol of symbols) out.push(...renderSymbol(symbol));
    }
    if (file.reexports.length > 0) {
      out.push('### Re-exports', '', ...file.reexports.map((r) => `- ${code(r.name)} from [${code(r.from)}](#${anchorOf(r.from)})`), '');
    }
  }
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}
