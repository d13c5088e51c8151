import { Type } from 'typebox';
import { defineAgent, TaskFailedError } from '../sdk/index.ts';
import { collectFiles, FileSchema, type InputFile, isSourcePath, isTestPath, unsafePathReason } from '../../services/tooling/index.ts';
import { NO_MODEL_CONFIGURED } from '../../services/llm/index.ts';
import { overviewsFromModel, type OverviewUse } from './llm-overview.ts';
import { renderMarkdown } from './render-markdown.ts';
import { checkDocumentation, otherDocumentRefusal } from './check.ts';

export interface DocumentationInput {
  files?: InputFile[];
  task?: string;
  output_path?: string;
  title?: string;
}

// Tests exercise the API rather than define it, so they stay out of the reference.
const isDocumented = (p: string): boolean => isSourcePath(p) && !isTestPath(p) && !/\.spec\.[cm]?[jt]sx?$/.test(p);

export const documentationAgent = defineAgent<DocumentationInput>({
  name: 'documentation',
  description:
    'Generates a Markdown API reference from TypeScript/JavaScript source with the type checker: exported functions, classes, interfaces, type aliases, enums and constants with their JSDoc; ' +
    'with a model configured, each file also gets a short overview paragraph.',
  version: '0.1.0',
  capabilities: [
    'write documentation',
    'write api docs',
    'generate api reference',
    'document code',
    'document functions',
    'document public api',
    'generate markdown docs',
    'extract jsdoc',
    'explain exports',
    'update docs',
  ],
  inputSchema: Type.Object(
    {
      files: Type.Optional(Type.Array(FileSchema)),
      task: Type.Optional(Type.String()),
      output_path: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
      title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    { additionalProperties: true },
  ),
  outputs: ['files:markdown', 'markdown', 'summary'],
  check: checkDocumentation,
  async execute(input, ctx) {
    const outputPath = input.output_path ?? 'docs/API.md';
    const badOutput = unsafePathReason(outputPath);
    if (badOutput) throw new TaskFailedError(`unsafe output_path ${JSON.stringify(outputPath)}: ${badOutput}`);
    const other = otherDocumentRefusal(input, input.task ?? ctx.description ?? '');
    if (other) throw new TaskFailedError(`${other.reason}: ${other.fix}`);
    const collected = collectFiles(input, ctx.dependencies);
    if (!collected.ok) throw new TaskFailedError(collected.message);
    if (!collected.files.some((f) => isDocumented(f.path))) {
      throw new TaskFailedError('no TypeScript or JavaScript source files to document', { paths: collected.files.map((f) => f.path) });
    }

    // The compiler is loaded on the first task, not when the agent is imported (services/tooling/index.ts says why).
    const [{ createInMemoryProgram }, { extractApi }] = await Promise.all([
      import('../../services/tooling/in-memory-program.ts'),
      import('./extract-api.ts'),
    ]);
    const { program, roots } = createInMemoryProgram(collected.files, isDocumented);
    const api = extractApi(program, roots, ctx.signal);
    let overviews = new Map<string, string>();
    let llm: OverviewUse = NO_MODEL_CONFIGURED;
    if (ctx.llm.available) ({ overviews, llm } = await overviewsFromModel(api, collected.files, ctx));
    const markdown = renderMarkdown(input.title ?? 'API Reference', api, overviews);
    const symbols = api.reduce((n, f) => n + f.symbols.length, 0);
    const withSymbols = api.filter((f) => f.symbols.length > 0).length;
    ctx.log.info({ files: roots.length, symbols }, 'api docs rendered');
    return {
      markdown,
      files: [{ path: outputPath, content: markdown }],
      symbols,
      files_documented: withSymbols,
      llm,
      summary:
        `Documented ${symbols} exported symbol${symbols === 1 ? '' : 's'} from ${withSymbols} of ${roots.length} source file${roots.length === 1 ? '' : 's'} into ${outputPath}` +
        (llm.used ? `, with overviews of ${llm.overviews ?? 0} file${llm.overviews === 1 ? '' : 's'} by ${llm.model}` : ''),
    };
  },
});
