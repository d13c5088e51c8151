import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectFiles, createInMemoryProgram, isSourcePath, lintFiles, unsafePathReason } from '../../../services/tooling/index.ts';

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
        'a-step': { files: [{ path: './x.ts', content: 'old' }, { path: 'a.ts', content: '' }] },
        other: { summary: 'no files here' },
      },
    );
    expect(got).toEqual({ ok: true, source: 'dependencies', files: [{ path: 'a.ts', content: '' }, { path: 'x.ts', content: 'new' }] });
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
});
