import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { poll } from '../helpers/poll.ts';
import { startProcess } from '../helpers/processes.ts';

/** A port nothing listens on (taken from the kernel, then let go). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// A role whose Redis cannot be reached says so once in its log, and once more when Redis answers,
// instead of ioredis's "Unhandled error event" and a stack on stderr at every reconnect.
describe('Redis out of reach at start', () => {
  it('is one warning in the log, then one line when a real redis-server comes up; nothing on stderr', async () => {
    const port = await freePort();
    const agents = await startProcess(['agents'], { REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'info' }, 5);
    const warnings = () => agents.stdout().match(/Redis cannot be reached; retrying until it answers/g) ?? [];
    await poll(async () => (warnings().length > 0 ? true : undefined), { timeoutMs: 10_000, label: 'the warning' });
    // ioredis tries again every few hundred ms: several attempts, still one warning.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(warnings()).toHaveLength(1);
    expect(agents.stderr()).not.toContain('Unhandled error event');

    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    onTestFinished(() => {
      redis.kill('SIGKILL');
    });
    await poll(async () => (/Redis answers again/.test(agents.stdout()) ? true : undefined), {
      timeoutMs: 20_000,
      label: 'the agents to reach the new Redis',
    });
    expect(warnings()).toHaveLength(1);
    expect(agents.stderr()).toBe('');
    agents.child.kill('SIGTERM');
    expect(await new Promise((resolve) => agents.child.once('exit', resolve))).toBe(0);
  }, 60_000);
});
