import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { envVariables } from '../../services/config/index.ts';

describe('docs/CONFIGURATION.md', () => {
  it('documents every variable the config reads, and none it does not', async () => {
    const doc = await readFile(new URL('../../docs/CONFIGURATION.md', import.meta.url), 'utf8');
    // A row may name several variables in its first column.
    const firstColumns = [...doc.matchAll(/^\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*) \|/gm)].map((m) => m[1]!);
    const documented = firstColumns.flatMap((c) => [...c.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]));
    expect([...new Set(documented)].sort()).toEqual([...envVariables].sort());
  });
});
