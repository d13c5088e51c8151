import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { scriptsDir } from '../helpers/backup-harness.ts';

const retention = join(scriptsDir, 'backup', 'retention.sh');

function select(mode: string, names: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string[]; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [retention, mode], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out: out.split('\n').filter(Boolean), err }));
    // A refused argument ends the script before it reads stdin; the exit code is what counts then.
    child.stdin.on('error', () => undefined);
    child.stdin.end(names.join('\n'));
  });
}

const name = (iso: string) => `agentic-mesh-${iso.replace(/[-:]/g, '')}Z.tar.gz`;

/** One archive a night at 02:00 UTC from `from` to `to`, inclusive. */
function nightly(from: string, to: string): string[] {
  const names: string[] = [];
  for (let t = Date.parse(`${from}T02:00:00Z`); t <= Date.parse(`${to}T02:00:00Z`); t += 86_400_000) {
    names.push(name(new Date(t).toISOString().slice(0, 19)));
  }
  return names;
}

describe('retention (scripts/backup/retention.sh)', () => {
  it('keeps the newest archive of the last 7 days, 4 ISO weeks and 3 months over four months of nightlies', async () => {
    // 30 November 2026 is a Monday: its ISO week starts that day.
    const names = [...nightly('2026-08-01', '2026-11-30'), name('2026-11-30T14:00:00'), name('2026-11-29T09:00:00')];
    const keep = await select('keep', names);
    expect(keep.code).toBe(0);
    expect(keep.out.sort()).toEqual(
      [
        // days
        '2026-11-30T14:00:00',
        '2026-11-29T09:00:00',
        '2026-11-28T02:00:00',
        '2026-11-27T02:00:00',
        '2026-11-26T02:00:00',
        '2026-11-25T02:00:00',
        '2026-11-24T02:00:00',
        // weeks 16-22 and 9-15 November (23-29 and 30 November- are kept as days)
        '2026-11-22T02:00:00',
        '2026-11-15T02:00:00',
        // October and September (November's is kept as a day)
        '2026-10-31T02:00:00',
        '2026-09-30T02:00:00',
      ]
        .map(name)
        .sort(),
    );
    const del = await select('delete', names);
    expect(del.out.length + keep.out.length).toBe(names.length);
    expect(new Set([...del.out, ...keep.out]).size).toBe(names.length);
    expect(del.out).toContain(name('2026-11-30T02:00:00'));
  });

  it('counts ISO weeks across a new year, not calendar years, and months by calendar month', async () => {
    // 2026 has an ISO week 53: Monday 28 December 2026 to Sunday 3 January 2027.
    const names = ['2026-12-30T02:00:00', '2026-12-31T02:00:00', '2027-01-01T02:00:00', '2027-01-04T02:00:00'].map(name);
    const weeks = await select('keep', names, { BACKUP_KEEP_DAILY: '0', BACKUP_KEEP_WEEKLY: '2', BACKUP_KEEP_MONTHLY: '0' });
    expect(weeks.out.sort()).toEqual(['2027-01-01T02:00:00', '2027-01-04T02:00:00'].map(name).sort());
    const months = await select('keep', names, { BACKUP_KEEP_DAILY: '0', BACKUP_KEEP_WEEKLY: '0', BACKUP_KEEP_MONTHLY: '2' });
    expect(months.out.sort()).toEqual(['2026-12-31T02:00:00', '2027-01-04T02:00:00'].map(name).sort());
  });

  it('counts periods that have archives, so a long gap never ages everything out', async () => {
    const names = ['2025-01-10T02:00:00', '2025-06-10T02:00:00', '2026-11-30T02:00:00'].map(name);
    expect((await select('delete', names)).out).toEqual([]);
  });

  it('prints keys with their prefix and never names a file that is not an archive', async () => {
    const names = [
      ...nightly('2026-10-01', '2026-11-30').map((n) => `backups/${n}`),
      'backups/notes.txt',
      'agentic-mesh-latest.tar.gz',
      `.${name('2026-11-30T03:00:00')}.partial`,
      '',
    ];
    const del = await select('delete', names);
    const keep = await select('keep', names);
    expect([...del.out, ...keep.out].every((n) => /^backups\/agentic-mesh-\d{8}T\d{6}Z\.tar\.gz$/.test(n))).toBe(true);
    expect(del.out.length + keep.out.length).toBe(61);
  });

  it('refuses a bad mode or count, and says nothing about no input', async () => {
    expect((await select('prune', [])).code).toBe(2);
    const bad = await select('keep', [name('2026-11-30T02:00:00')], { BACKUP_KEEP_DAILY: 'seven' });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("got 'seven'");
    expect(await select('delete', [])).toEqual({ code: 0, out: [], err: '' });
  });
});

describe('backup scripts', () => {
  it('pass shellcheck', async () => {
    const files = ['backup.sh', 'restore.sh', 'backup/lib.sh', 'backup/retention.sh'].map((f) => join(scriptsDir, f));
    const { stdout } = await promisify(execFile)('shellcheck', ['-x', '--format=gcc', ...files], { cwd: join(scriptsDir, '..') }).catch(
      (err: { stdout: string }) => err,
    );
    expect(stdout).toBe('');
  });
});
