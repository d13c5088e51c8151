import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Test double for commands a run must never reach (terraform, ssh, scp): each is an executable on
 * PATH that appends its name and arguments to a log and fails, so a call is both recorded and
 * unable to do anything.
 */
export async function writeTripwires(binDir: string, names: readonly string[], logFile: string): Promise<void> {
  for (const name of names) {
    const path = join(binDir, name);
    const body = `#!/bin/bash\nprintf '%s\\n' "${name} $*" >> '${logFile}'\necho "tripwire double: ${name} must not be called" >&2\nexit 97\n`;
    await writeFile(path, body);
    await chmod(path, 0o755);
  }
}

/** The calls recorded so far, one "name args" line each; none when the log was never written. */
export async function tripwireCalls(logFile: string): Promise<string[]> {
  try {
    return (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
