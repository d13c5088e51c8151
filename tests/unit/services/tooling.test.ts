import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixWithEslint } from '../../../services/tooling/eslint-runner.ts';
import { createInMemoryProgram } from '../../../services/tooling/in-memory-program.ts';
import { collectFiles, isSourcePath, unsafePathReason } from '../../../services/tooling/index.ts';
import { lintFiles } from '../../../services/tooling/lint.ts';

describe('tooling: input files', () => {
  it('rejects absolute and parent paths and accepts plain relative ones', () => {
    expect(unsafePathReason('src/a.ts')).toBeUndefined();
    expect(unsafePathReason('./src/a.ts')).toBeUndefined();
    for (const bad of ['/etc/passwd', 'C:\\x.ts', 'a/../../b.ts', '..\\b.ts', '', 'a\0b']) expect(unsafePathReason(bad)).toBeDefined();
  });

  it('gathers dependency files in step-id order, later paths replacing earlier ones, sorted by path', () => {
    const got = collectFiles(
      {},
      {
        'b-step': { files: [{ path: 'x.ts', content: 'new' }] },
        'a-step': {
          files: [
            { path: './x.ts', content: 'old' },
            { path: 'a.ts', content: '' },
          ],
        },
        other: { summary: 'no files here' },
      },
    );
    expect(got).toEqual({
      ok: true,
      source: 'dependencies',
      files: [
        { path: 'a.ts', content: '' },
        { path: 'x.ts', content: 'new' },
      ],
    });
    expect(collectFiles({ files: [] }, {})).toMatchObject({ ok: false });
  });
});

describe('tooling: in-memory program', () => {
  it('shares lib declaration SourceFiles between programs', () => {
    const a = createInMemoryProgram([{ path: 'a.ts', content: 'export const a = 1;' }], isSourcePath).program;
    const b = createInMemoryProgram([{ path: 'b.ts', content: 'export const b = 2;' }], isSourcePath).program;
    const libOf = (p: typeof a) => p.getSourceFiles().find((f) => f.fileName.endsWith('lib.es5.d.ts'));
    expect(libOf(a)).toBeDefined();
    expect(libOf(a)).toBe(libOf(b));
  });

  it('never reads the real file system for imports outside the given files', () => {
    // A real file on disk, reached by climbing out of the virtual root.
    const real = path.resolve(import.meta.dirname, '../../../services/tooling/index.ts');
    const content = `import * as x from '..${real}';\nexport default x;\n`;
    const { program, roots } = createInMemoryProgram([{ path: 'a.ts', content }], isSourcePath);
    expect(program.getSemanticDiagnostics(roots[0]!.sourceFile).map((d) => d.code)).toContain(2307);
  });
});

describe('tooling: lint rules', () => {
  it('exempts ambient var declarations and finds secrets in template literals', () => {
    const findings = lintFiles([
      { path: 'g.d.ts', content: 'declare var legacy: number;\n' },
      { path: 'k.ts', content: 'export const header = `Bearer ghp_abcdefghijklmnopqrstuvwxyz0123456789AB`;\n' },
    ]);
    expect(findings.map((f) => `${f.file}:${f.rule}`)).toEqual(['k.ts:hardcoded-secret']);
  });

  it('lints JavaScript with Node globals known, and reports what ESLint cannot parse', () => {
    const findings = lintFiles([
      { path: 'a.js', content: "setTimeout('tick()', 10);\nconsole.info(process.env.HOME, Buffer.alloc(1));\nmissing();\n" },
      { path: 'b.cjs', content: "module.exports = require('./a.js');\n" },
      { path: 'c.ts', content: 'export const = 1;\n' },
      { path: 'notes.md', content: 'not code' },
    ]);
    expect(findings.map((f) => `${f.file}:${f.line} ${f.severity} ${f.rule}`)).toEqual([
      'a.js:1 error no-implied-eval',
      'a.js:2 warning no-console',
      'a.js:3 error no-undef',
      'c.ts:1 error parse-error',
    ]);
  });

  it('applies every ESLint auto-fix and reports each one where it was', () => {
    const content = 'export function f(items: number[]): number {\n  var n = items.length;\n  let m = 2;\n  return n + m;\n}\n';
    const clean = { path: 'clean.ts', content: 'export const x = 1;\n' };
    const result = fixWithEslint([{ path: 'f.ts', content }, clean, { path: 'README.md', content: 'var x' }]);
    expect(result.files[0]!.content).toBe(
      'export function f(items: number[]): number {\n  const n = items.length;\n  const m = 2;\n  return n + m;\n}\n',
    );
    expect(result.files.slice(1)).toEqual([clean, { path: 'README.md', content: 'var x' }]);
    expect(result.changed).toEqual(['f.ts']);
    expect(result.fixed.map((f) => `${f.file}:${f.line} ${f.rule}`)).toEqual(['f.ts:2 no-var', 'f.ts:3 prefer-const']);
    expect(lintFiles(result.files)).toEqual([]);
  });
});
