import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AppError, errorCodes } from '../../services/errors/index.ts';

describe('error codes', () => {
  it('docs/ERRORS.md lists every code with its status and retryability, and nothing else', async () => {
    const doc = await readFile(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (yes|no) \|/gm)].map((m) => [m[1], Number(m[2]), m[3] === 'yes']);
    const code = Object.entries(errorCodes).map(([c, v]) => [c, v.statusCode, v.retryable]);
    expect(rows.sort()).toEqual(code.sort());
  });

  it('carries code, status, retryable and cause', () => {
    const cause = new Error('socket hang up');
    const err = new AppError('AGENT_UNAVAILABLE', 'agent x cannot be reached', { cause });
    expect(err).toMatchObject({ code: 'AGENT_UNAVAILABLE', statusCode: 503, retryable: true, cause });
    expect(err.toJSON()).toEqual({ code: 'AGENT_UNAVAILABLE', message: 'agent x cannot be reached', retryable: true });
  });
});
