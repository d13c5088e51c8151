// The stand-in images (scripts/dev/local-images.sh, tests/standins/) keep the contracts
// compose/docker-compose.yml relies on: each runs here the way compose runs it (its command,
// entrypoint, environment, volumes and healthcheck command), on a network of its own, and is used
// from another container as the stack's services use it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { poll } from '../helpers/poll.ts';

const exec = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const NODE = 'agentic-mesh-standin/node:24';
const IMAGES = [
  NODE,
  'postgres:16-alpine',
  'redis:7.4-alpine',
  'caddy:2.10-alpine',
  'prom/prometheus:v3.5.0',
  'prom/alertmanager:v0.28.1',
  'hashicorp/consul:1.21',
  'jaegertracing/jaeger:2.5.0',
];
const run = `am-standins-${randomBytes(4).toString('hex')}`;
const net = run;
/** Every container and volume carries it, so that afterAll (or a later run) finds what to remove. */
const LABEL = 'org.agentic-mesh.test=standins';
let scratch = '';

async function docker(args: string[], timeout = 120_000): Promise<string> {
  const { stdout } = await exec('docker', args, { timeout, maxBuffer: 16 * 1_048_576 });
  return stdout.trim();
}

/** Starts a detached container on the test's network; NAME is also its host name there. */
async function start(name: string, args: string[]): Promise<string> {
  await docker(['run', '-d', '--name', `${run}-${name}`, '--label', LABEL, '--network', net, '--network-alias', name, ...args]);
  return `${run}-${name}`;
}

/** A one-off container on the network; its output, or the error with its stderr. */
async function oneOff(args: string[]): Promise<string> {
  return docker(['run', '--rm', '--label', LABEL, '--network', net, ...args]);
}

async function volume(name: string): Promise<string> {
  return docker(['volume', 'create', '--label', LABEL, `${run}-${name}`]);
}

/** Waits for a compose healthcheck command (run in the container, as Docker runs it) to pass. */
async function healthy(container: string, test: string[], label: string, timeoutMs = 60_000): Promise<void> {
  await poll(
    async () => {
      await docker(['exec', container, ...test], 30_000);
      return true;
    },
    { timeoutMs, intervalMs: 500, label: `${label} (logs: docker logs ${container})` },
  ).catch(async (err: unknown) => {
    const logs = await docker(['logs', '--tail', '40', container]).catch(() => '');
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  });
}

async function removeAll(): Promise<void> {
  const containers = await docker(['ps', '-aq', '--filter', `label=${LABEL}`]);
  if (containers) await docker(['rm', '-f', '-v', ...containers.split('\n')]);
  const volumes = await docker(['volume', 'ls', '-q', '--filter', `label=${LABEL}`]);
  if (volumes) await docker(['volume', 'rm', '-f', ...volumes.split('\n')]);
  const nets = await docker(['network', 'ls', '-q', '--filter', `label=${LABEL}`]);
  if (nets) await docker(['network', 'rm', ...nets.split('\n')]);
}

beforeAll(async () => {
  try {
    await docker(['version', '--format', '{{.Server.Version}}'], 30_000);
  } catch (err) {
    throw new Error(`no Docker engine answers (${(err as Error).message.trim()}); start dockerd`, { cause: err });
  }
  const missing: string[] = [];
  for (const image of IMAGES) await docker(['image', 'inspect', image], 30_000).catch(() => missing.push(image));
  if (missing.length > 0) throw new Error(`images missing: ${missing.join(', ')}; build them with scripts/dev/local-images.sh`);
  // What a run killed before its afterAll left behind.
  await removeAll();
  await docker(['network', 'create', '--label', LABEL, net]);
  scratch = await mkdtemp(join(tmpdir(), 'am-standins-'));
});

afterAll(async () => {
  await removeAll();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

it.concurrent(
  'postgres:16-alpine stand-in: initialises from POSTGRES_*, runs initdb.d once, takes password logins over TCP, stops cleanly and keeps its data',
  async () => {
    const initdb = join(scratch, 'initdb');
    await mkdir(initdb);
    await writeFile(join(initdb, '01-table.sql'), "CREATE TABLE marks (note text); INSERT INTO marks VALUES ('from initdb.d sql');\n");
    await writeFile(
      join(initdb, '02-script.sh'),
      'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c "INSERT INTO marks VALUES (\'from initdb.d sh\')"\n',
    );
    await chmod(initdb, 0o755);
    const data = await volume('postgres-data');
    const password = randomBytes(16).toString('hex');
    const args = [
      '-e',
      'POSTGRES_USER=agentic_mesh',
      '-e',
      'POSTGRES_DB=agentic_mesh',
      '-e',
      `POSTGRES_PASSWORD=${password}`,
      '-v',
      `${data}:/var/lib/postgresql/data`,
      '-v',
      `${initdb}:/docker-entrypoint-initdb.d:ro`,
      '--shm-size',
      '256m',
      'postgres:16-alpine',
    ];
    const composeHealth = ['pg_isready', '-h', '127.0.0.1', '-U', 'agentic_mesh', '-d', 'agentic_mesh'];
    const psql = (pw: string, sql: string) =>
      oneOff([
        '-e',
        `PGPASSWORD=${pw}`,
        'postgres:16-alpine',
        'psql',
        '-h',
        'postgres',
        '-U',
        'agentic_mesh',
        '-d',
        'agentic_mesh',
        '-tAc',
        sql,
      ]);

    let pg = await start('postgres', args);
    await healthy(pg, composeHealth, 'postgres ready over TCP');
    expect(await psql(password, 'SELECT note FROM marks ORDER BY note')).toBe('from initdb.d sh\nfrom initdb.d sql');
    await expect(psql('wrong', 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    expect(await docker(['exec', pg, 'psql', '-U', 'agentic_mesh', '-tAc', 'SHOW password_encryption'])).toBe('scram-sha-256');
    // The server is PID 1 and the postgres user's, so `docker stop` reaches it and it shuts down.
    const uid = await docker(['exec', pg, 'id', '-u', 'postgres']);
    expect(await docker(['exec', pg, 'sh', '-c', "awk '/^Uid:/ {print $2}' /proc/1/status"])).toBe(uid);
    await docker(['stop', pg]);
    expect(await docker(['inspect', '--format', '{{.State.ExitCode}}', pg])).toBe('0');
    // PostgreSQL logs to stderr; docker logs keeps the two streams apart.
    const { stderr } = await exec('docker', ['logs', '--tail', '5', pg]);
    expect(stderr).toMatch(/database system is shut down/);

    // Recreated on the same volume: the data is there and initdb.d did not run a second time.
    await docker(['rm', pg]);
    pg = await start('postgres', args);
    await healthy(pg, composeHealth, 'postgres ready again');
    expect(await psql(password, 'SELECT count(*) FROM marks')).toBe('2');
  },
);

it.concurrent(
  'redis:7.4-alpine stand-in: runs compose command, answers the healthcheck with REDISCLI_AUTH, refuses without the password, keeps its AOF on /data',
  async () => {
    const data = await volume('redis-data');
    const password = randomBytes(16).toString('hex');
    const redis = await start('redis', [
      '-e',
      `REDISCLI_AUTH=${password}`,
      '-v',
      `${data}:/data`,
      'redis:7.4-alpine',
      'redis-server',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--requirepass',
      password,
    ]);
    await healthy(redis, ['sh', '-c', 'redis-cli ping | grep -q PONG'], 'redis answers PONG');
    const cli = (auth: string | undefined, ...cmd: string[]) =>
      oneOff([...(auth ? ['-e', `REDISCLI_AUTH=${auth}`] : []), 'redis:7.4-alpine', 'redis-cli', '-h', 'redis', ...cmd]);
    expect(await cli(password, 'SET', 'standin-key', 'kept')).toBe('OK');
    expect(await cli(undefined, 'GET', 'standin-key')).toMatch(/NOAUTH/);
    expect(await docker(['exec', redis, 'ls', '/data/appendonlydir'])).toMatch(/\.aof/);
    // With appendfsync everysec a write is on disk within a second; a stop also rewrites nothing away.
    await docker(['restart', redis]);
    await healthy(redis, ['sh', '-c', 'redis-cli ping | grep -q PONG'], 'redis back after restart');
    expect(await cli(password, 'GET', 'standin-key')).toBe('kept');
  },
);

it.concurrent(
  'caddy:2.10-alpine stand-in: serves compose/Caddyfile for localhost with its internal CA, proxying to the orchestrator and hiding /metrics',
  async () => {
    // The orchestrator's place: a server that says which path it was asked for.
    await start('orchestrator', [
      NODE,
      'node',
      '-e',
      "require('node:http').createServer((q, s) => s.end('upstream saw ' + q.url)).listen(8001)",
    ]);
    const caddy = await start('caddy', [
      '-e',
      'DOMAIN=localhost',
      '-e',
      'ACME_EMAIL=',
      '-v',
      `${join(repo, 'compose/Caddyfile')}:/etc/caddy/Caddyfile:ro`,
      'caddy:2.10-alpine',
    ]);
    await healthy(caddy, ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:2019/config/'], 'caddy admin API');
    const https = (path: string) =>
      docker([
        'exec',
        caddy,
        'wget',
        '-q',
        '-O',
        '-',
        '--ca-certificate=/data/caddy/pki/authorities/local/root.crt',
        `https://localhost${path}`,
      ]);
    const body = await poll(() => https('/v1/health'), { timeoutMs: 60_000, intervalMs: 500, label: 'HTTPS through caddy' });
    expect(body).toBe('upstream saw /v1/health');
    // Without -q wget says on stderr (in the error) how the request failed.
    await expect(
      docker([
        'exec',
        caddy,
        'wget',
        '-O',
        '-',
        '--ca-certificate=/data/caddy/pki/authorities/local/root.crt',
        'https://localhost/metrics',
      ]),
    ).rejects.toThrow(/404 Not Found/);
    // The certificate chains to Caddy's own root, which lives on the /data volume.
    expect(await docker(['exec', caddy, 'ls', '/data/caddy/certificates/local/localhost'])).toMatch(/localhost\.crt/);
  },
);

it.concurrent(
  "prom/prometheus:v3.5.0 and prom/alertmanager:v0.28.1 stand-ins: run with compose's entrypoint and flags, load the project's alert rules and Alertmanager config, and become ready",
  async () => {
    const am = await start('alertmanager', [
      '--entrypoint',
      '/bin/sh',
      '-e',
      'SLACK_WEBHOOK_URL=http://127.0.0.1:9/slack-webhook-url-not-set',
      '-v',
      `${join(repo, 'monitoring/alertmanager/alertmanager.yml')}:/etc/alertmanager/alertmanager.yml:ro`,
      '-v',
      `${await volume('alertmanager-data')}:/alertmanager`,
      'prom/alertmanager:v0.28.1',
      '-c',
      'umask 077 && printf \'%s\' "$SLACK_WEBHOOK_URL" > /etc/alertmanager/slack_webhook_url && exec /bin/alertmanager --config.file=/etc/alertmanager/alertmanager.yml --storage.path=/alertmanager',
    ]);
    await healthy(am, ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:9093/-/healthy'], 'alertmanager healthy');
    expect(await docker(['exec', am, 'cat', '/etc/alertmanager/slack_webhook_url'])).toBe('http://127.0.0.1:9/slack-webhook-url-not-set');
    const status = JSON.parse(await docker(['exec', am, 'wget', '-q', '-O', '-', 'http://127.0.0.1:9093/api/v2/status'])) as {
      config: { original: string };
    };
    expect(status.config.original).toMatch(/api_url_file: \/etc\/alertmanager\/slack_webhook_url/);

    // Debian's Prometheus has no consul_sd (tests/standins/README.md): a config of the test's own,
    // with the project's rule file and Alertmanager.
    const config = join(scratch, 'prometheus.yml');
    await writeFile(
      config,
      [
        'global: {scrape_interval: 1s, evaluation_interval: 1s}',
        'rule_files: [/etc/prometheus/rules/*.yml]',
        "alerting: {alertmanagers: [{static_configs: [{targets: ['alertmanager:9093']}]}]}",
        "scrape_configs: [{job_name: prometheus, static_configs: [{targets: ['127.0.0.1:9090']}]}]",
        '',
      ].join('\n'),
    );
    const prom = await start('prometheus', [
      '-v',
      `${config}:/etc/prometheus/prometheus.yml:ro`,
      '-v',
      `${join(repo, 'monitoring/prometheus/rules/alerts.yml')}:/etc/prometheus/rules/alerts.yml:ro`,
      '-v',
      `${await volume('prometheus-data')}:/prometheus`,
      'prom/prometheus:v3.5.0',
      '--config.file=/etc/prometheus/prometheus.yml',
      '--storage.tsdb.path=/prometheus',
      '--storage.tsdb.retention.time=30d',
    ]);
    await healthy(prom, ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:9090/-/ready'], 'prometheus ready');
    const api = async (path: string) =>
      JSON.parse(await docker(['exec', prom, 'wget', '-q', '-O', '-', `http://127.0.0.1:9090${path}`])) as { data: unknown };
    const rules = (await api('/api/v1/rules')) as { data: { groups: Array<{ rules: unknown[] }> } };
    expect(rules.data.groups.flatMap((g) => g.rules).length).toBeGreaterThan(0);
    await poll(
      async () => {
        const ams = (await api('/api/v1/alertmanagers')) as { data: { activeAlertmanagers: Array<{ url: string }> } };
        return ams.data.activeAlertmanagers.some((a) => a.url.includes('alertmanager:9093'));
      },
      { timeoutMs: 30_000, intervalMs: 500, label: 'prometheus finding alertmanager' },
    );
  },
);

it.concurrent(
  "hashicorp/consul:1.21 stand-in: takes compose's agent arguments, answers its healthcheck, runs registered checks and drops a failing service",
  async () => {
    const consul = await start('consul', [
      '-e',
      'CONSUL_BIND_INTERFACE=eth0',
      '-e',
      'CONSUL_LOCAL_CONFIG={"disable_update_check": true}',
      '-v',
      `${await volume('consul-data')}:/consul/data`,
      'hashicorp/consul:1.21',
      'agent',
      '-server',
      '-bootstrap-expect=1',
      '-ui',
      '-client=0.0.0.0',
    ]);
    await healthy(consul, ['sh', '-c', "wget -q -O - http://127.0.0.1:8500/v1/status/leader | grep -q ':'"], 'consul leader');
    const svc = await start('svc', [NODE, 'node', '-e', "require('node:http').createServer((q, s) => s.end('ok')).listen(8080)"]);
    const call = (method: string, path: string, body?: unknown) =>
      oneOff([
        NODE,
        'node',
        '-e',
        `fetch('http://consul:8500${path}', {method: '${method}', body: process.argv[1] || undefined}).then(async r => { const t = await r.text(); if (!r.ok) { console.error(r.status, t); process.exit(1); } console.log(t); })`,
        body === undefined ? '' : JSON.stringify(body),
      ]);
    await call('PUT', '/v1/agent/service/register', {
      ID: 'svc-1',
      Name: 'svc',
      Address: 'svc',
      Port: 8080,
      Tags: ['agentic-mesh'],
      Check: { HTTP: 'http://svc:8080/health', Interval: '1s', Timeout: '1s', DeregisterCriticalServiceAfter: '1m' },
    });
    const passing = async () =>
      (JSON.parse(await call('GET', '/v1/health/service/svc?passing')) as Array<{ Service: { ID: string } }>).map((e) => e.Service.ID);
    await poll(async () => (await passing()).includes('svc-1'), { timeoutMs: 30_000, intervalMs: 500, label: 'svc-1 passing' });
    expect(JSON.parse(await call('GET', '/v1/catalog/services'))).toEqual({ svc: ['agentic-mesh'] });
    await docker(['stop', '-t', '1', svc]);
    await poll(async () => (await passing()).length === 0, { timeoutMs: 30_000, intervalMs: 500, label: 'svc-1 dropped from passing' });
    // Compose's `docker stop` reaches the Node process (PID 1) and it exits at once, not after 10 s of SIGKILL wait.
    await docker(['stop', consul]);
    expect(await docker(['inspect', '--format', '{{.State.ExitCode}}', consul])).toBe('0');
  },
);

it.concurrent(
  'jaegertracing/jaeger:2.5.0 stand-in: answers the compose healthcheck on 16686, takes an OTLP/HTTP JSON trace on 4318 and shows it in /api/traces',
  async () => {
    const jaeger = await start('jaeger', ['jaegertracing/jaeger:2.5.0']);
    await healthy(jaeger, ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:16686/'], 'jaeger UI port');
    const traceId = randomBytes(16).toString('hex');
    const now = BigInt(Date.now()) * 1_000_000n;
    const trace = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'standin-test' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId,
                  spanId: 'a1a1a1a1a1a1a1a1',
                  name: 'parent',
                  startTimeUnixNano: String(now),
                  endTimeUnixNano: String(now + 5_000_000n),
                },
                {
                  traceId,
                  spanId: 'b2b2b2b2b2b2b2b2',
                  parentSpanId: 'a1a1a1a1a1a1a1a1',
                  name: 'child',
                  startTimeUnixNano: String(now + 1_000_000n),
                  endTimeUnixNano: String(now + 2_000_000n),
                  attributes: [{ key: 'http.status_code', value: { intValue: '200' } }],
                },
              ],
            },
          ],
        },
      ],
    };
    await oneOff([
      NODE,
      'node',
      '-e',
      "fetch('http://jaeger:4318/v1/traces', {method: 'POST', headers: {'content-type': 'application/json'}, body: process.argv[1]}).then(r => process.exit(r.ok ? 0 : 1))",
      JSON.stringify(trace),
    ]);
    const answer = JSON.parse(
      await docker(['exec', jaeger, 'wget', '-q', '-O', '-', 'http://127.0.0.1:16686/api/traces?service=standin-test']),
    ) as {
      data: Array<{
        traceID: string;
        spans: Array<{ operationName: string; references: Array<{ spanID: string }>; duration: number; tags: unknown[] }>;
      }>;
    };
    expect(answer.data).toHaveLength(1);
    expect(answer.data[0].traceID).toBe(traceId);
    const child = answer.data[0].spans.find((s) => s.operationName === 'child');
    expect(child?.references[0]?.spanID).toBe('a1a1a1a1a1a1a1a1');
    expect(child?.duration).toBe(1000);
    expect(child?.tags).toEqual([{ key: 'http.status_code', type: 'int64', value: 200 }]);
  },
);
