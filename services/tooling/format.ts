import { format } from 'prettier';
import type { InputFile } from './input-files.ts';

const PARSERS: Array<[RegExp, string]> = [
  [/\.[cm]?tsx?$/, 'typescript'],
  [/\.[cm]?jsx?$/, 'babel'],
  [/\.json$/, 'json'],
  [/\.md$/, 'markdown'],
];

/**
 * Formats the files Prettier understands (single quotes, 100 columns, the project's own style).
 * A file it cannot parse is left as it is: the review reports its syntax error, not the formatter.
 */
export async function formatFiles(files: readonly InputFile[]): Promise<{ files: InputFile[]; formatted: string[] }> {
  const formatted: string[] = [];
  const out = await Promise.all(
    files.map(async (f) => {
      const parser = PARSERS.find(([re]) => re.test(f.path))?.[1];
      if (!parser) return f;
      try {
        const content = await format(f.content, { parser, singleQuote: true, printWidth: 100, trailingComma: 'all' });
        if (content !== f.content) formatted.push(f.path);
        return { ...f, content };
      } catch {
        return f;
      }
    }),
  );
  return { files: out, formatted: formatted.sort() };
}
