import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents } from '../helpers/test-agents.ts';

/**
 * Starts the real Prometheus (Debian's package) on loopback. Prometheus cannot report a port it
 * chose itself, so a random high port is tried, and another if that one is taken.
 */
async function startPrometheus(configFile: string, dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  for (let tries = 0; tries < 5; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const child = spawn(
      'prometheus',
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${dataDir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const started = await Promise.race([
      poll(() => /Server is ready to receive web requests/.test(log), {
        timeoutMs: 20_000,
        label: 'prometheus to start',
        intervalMs: 50,
      }).then(() => true),
      new Promise<boolean>((resolve) => child.once('exit', () => resolve(false))),
    ]);
    if (started) return { url: `http://127.0.0.1:${port}`, child };
    if (!/address already in use/.test(log)) throw new Error(`prometheus did not start: ${log.slice(-500)}`);
  }
  throw new Error('no free port for prometheus after 5 tries');
}

describe('a real Prometheus scraping the platform', () => {
  it('scrapes the orchestrator and answers a query for a workflow metric after a workflow ran', async () => {
    const db = await createPgliteDb('memory://');
    await migrate(db);
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents);
    const target = new URL(await listenOnLoopback(app)).host;
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps: [{ id: 'a', agent: 'math', input: { values: [i] } }] }, wait: true },
      });
      expect(res.json().status).toBe('succeeded');
    }
    const dir = await mkdtemp(join(tmpdir(), 'mesh-prom-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'prometheus.yml');
    await writeFile(
      config,
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: orchestrator\n    static_configs:\n      - targets: ['${target}']\n`,
    );
    const prom = await startPrometheus(config, join(dir, 'data'));

    const query = async (q: string) => {
      const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`);
      return ((await res.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result;
    };
    const result = await poll(
      async () => {
        const r = await query('workflows_total{status="succeeded"}');
        return r.length > 0 && Number(r[0]!.value[1]) >= 3 ? r : undefined;
      },
      { timeoutMs: 20_000, label: 'prometheus to have scraped workflows_total', intervalMs: 250 },
    );
    expect(result[0]!.metric).toMatchObject({ job: 'orchestrator', service: 'orchestrator', status: 'succeeded' });
    expect(Number(result[0]!.value[1])).toBe(3);
    const up = await query('up{job="orchestrator"}');
    expect(up[0]!.value[1]).toBe('1');
    const p95 = await query('histogram_quantile(0.95, sum by (le) (workflow_duration_seconds_bucket))');
    expect(Number(p95[0]!.value[1])).toBeGreaterThan(0);
  }, 60_000);
});
