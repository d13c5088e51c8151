// One short paragraph per file from the model: what the module is for and how its exports fit
// together, which a reference built from signatures cannot say. The reference itself stays exactly
// what the type checker reports; the model only adds prose above it.
import { Type } from 'typebox';
import type { AgentContext } from '../sdk/index.ts';
import { fallbackReason, type LlmUse } from '../../services/llm/index.ts';
import type { InputFile } from '../../services/tooling/index.ts';
import type { FileApi } from './extract-api.ts';

export const OverviewSchema = Type.Object({
  files: Type.Array(Type.Object({ path: Type.String({ minLength: 1 }), overview: Type.String() })),
});

const MAX_OVERVIEW_CHARS = 800;
// Per file and overall, so a large repository still fits a small model's context.
const MAX_SOURCE_CHARS = 8_000;
const MAX_PROMPT_CHARS = 80_000;

export type OverviewUse = LlmUse & { overviews?: number };

const SYSTEM = [
  'You write API documentation for TypeScript modules.',
  'For each file given, write one short paragraph (2-4 sentences, plain prose, no headings, lists or code blocks) saying what the module is for and how its exports are meant to be used together.',
  'Describe only what the code shows; do not invent behaviour.',
  'Answer with JSON {"files": [{"path", "overview"}]}.',
].join('\n');

function fileBlock(file: FileApi, source: string | undefined): string {
  const symbols = file.symbols.map((s) => `- ${s.kind} ${s.name}${s.doc.description ? `: ${s.doc.description.split('\n')[0]}` : ''}`);
  const text = source === undefined ? '' : source.length > MAX_SOURCE_CHARS ? `${source.slice(0, MAX_SOURCE_CHARS)}\n[... cut]` : source;
  return [`=== ${file.path} ===`, 'Exports:', ...symbols, 'Source:', text].join('\n');
}

/** A paragraph is rendered under the file's heading, so it must not open blocks of its own. */
function asParagraph(text: string): string {
  const flat = text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^(?:#+|>|[-*+]|\d+\.)\s+/, '');
  return flat.length > MAX_OVERVIEW_CHARS ? `${flat.slice(0, MAX_OVERVIEW_CHARS - 1)}…` : flat;
}

/** Overviews by file path; files the model skipped or invented are left out. */
export async function overviewsFromModel(
  api: readonly FileApi[],
  files: readonly InputFile[],
  ctx: AgentContext,
): Promise<{ overviews: Map<string, string>; llm: OverviewUse }> {
  const documented = api.filter((f) => f.symbols.length > 0);
  if (documented.length === 0) return { overviews: new Map(), llm: { used: false, reason: 'no exported symbols to describe' } };
  const sources = new Map(files.map((f) => [f.path, f.content]));
  const blocks: string[] = [];
  let size = 0;
  for (const f of documented) {
    const block = fileBlock(f, sources.get(f.path));
    if (size + block.length > MAX_PROMPT_CHARS && blocks.length > 0) break;
    blocks.push(block);
    size += block.length;
  }
  try {
    const { value, result } = await ctx.llm.structured({
      name: 'file_overviews',
      schema: OverviewSchema,
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: blocks.join('\n\n') },
      ],
      temperature: 0,
      signal: ctx.signal,
      // The model's answer shows on the run as it is written.
      onDelta: (text) => ctx.progress({ text }),
    });
    const known = new Set(documented.map((f) => f.path));
    const overviews = new Map<string, string>();
    for (const o of value.files) {
      const path = o.path.replace(/^\.\//, '');
      const paragraph = asParagraph(o.overview);
      if (known.has(path) && paragraph !== '' && !overviews.has(path)) overviews.set(path, paragraph);
    }
    return { overviews, llm: { used: true, model: result.model, overviews: overviews.size } };
  } catch (err) {
    return { overviews: new Map(), llm: { used: false, reason: fallbackReason(err, ctx.signal) } };
  }
}
