import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import { builtInAgentNames } from '../../agents/index.ts';
import { envVariables, loadConfig } from '../../services/config/index.ts';
import { readProjectDocs } from '../../services/knowledge/project-docs.ts';
import { runTool } from '../helpers/cli-tools.ts';
import {
  args,
  composeConfig,
  dependencies,
  filledEnv,
  mounts,
  parseConfig,
  published,
  requiredSecrets,
  type ComposeConfig,
  type ComposeService,
} from '../helpers/compose-config.ts';
import { contextFiles } from '../helpers/docker-context.ts';
import { buildTargets, execForm, hostPath, parseDockerfile, stageChain } from '../helpers/dockerfile.ts';
import { poll } from '../helpers/poll.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const composeFile = 'compose/docker-compose.yml';

// The shared table of the platform's ports (docs and the static discovery table use the same).
const ports: Record<string, number> = {
  'mcp-gateway': 8000,
  orchestrator: 8001,
  'feature-dev': 8002,
  'code-review': 8003,
  infrastructure: 8004,
  cicd: 8005,
  documentation: 8006,
  knowledge: 8007,
};
const coreServices = ['postgres', 'redis', 'consul', 'orchestrator', 'knowledge', 'mcp-gateway', ...builtInAgentNames, 'caddy'];
const observabilityServices = ['jaeger', 'prometheus', 'alertmanager', 'grafana'];

let cached: Promise<{ config: ComposeConfig; env: Record<string, string> }> | undefined;
/** The stack with both profiles, from .env.example filled in as an operator would. */
function stack(): Promise<{ config: ComposeConfig; env: Record<string, string> }> {
  cached ??= (async () => {
    const envText = await filledEnv(root);
    const env = Object.fromEntries([...envText.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    return { config: parseConfig(await composeConfig(root, [composeFile], envText, ['core', 'observability'])), env };
  })();
  return cached;
}

function svc(config: ComposeConfig, name: string): ComposeService {
  const s = config.services[name];
  if (!s) throw new Error(`compose has no service ${name}; it has ${Object.keys(config.services).join(', ')}`);
  return s;
}

/** The services that run the platform's image (the runtime target). */
function appServices(config: ComposeConfig): Array<[string, ComposeService]> {
  return Object.entries(config.services).filter(([, s]) => s.build?.target === 'runtime');
}

/** Container paths a glob such as /etc/prometheus/rules/*.yml matches among a service's bind mounts, with their host paths. */
async function mountedFiles(service: ComposeService, glob: string): Promise<Array<{ container: string; host: string }>> {
  const re = new RegExp(
    `^${glob
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*')}$`,
  );
  const out: Array<{ container: string; host: string }> = [];
  for (const m of mounts(service).filter((x) => !x.named)) {
    if ((await stat(m.source)).isDirectory()) {
      for (const f of await readdir(m.source))
        if (re.test(posix.join(m.target, f))) out.push({ container: posix.join(m.target, f), host: join(m.source, f) });
    } else if (re.test(m.target)) out.push({ container: m.target, host: m.source });
  }
  return out;
}

describe('compose stack: docker-compose config', () => {
  it('accepts every compose file, alone and with each profile', async () => {
    const envText = await filledEnv(root);
    const overrides = (await readdir(join(root, 'compose')))
      .filter((f) => /\.ya?ml$/.test(f) && f !== 'docker-compose.yml')
      .map((f) => `compose/${f}`);
    for (const files of [[composeFile], ...overrides.map((o) => [composeFile, o])]) {
      for (const profiles of [[], ['core'], ['observability'], ['core', 'observability'], ['backup'], ['restore']]) {
        const result = await composeConfig(root, files, envText, profiles);
        expect(result.code, `${files.join(' + ')} --profile ${profiles.join(',')}: ${result.stderr}`).toBe(0);
      }
    }
  });

  it('refuses to run with a required secret left blank, naming it and how to generate it', async () => {
    const verbatim = await composeConfig(root, [composeFile], await readFile(join(root, '.env.example'), 'utf8'), ['core']);
    expect(verbatim.code).not.toBe(0);
    for (const name of [...requiredSecrets, 'DOMAIN']) {
      const result = await composeConfig(root, [composeFile], await filledEnv(root, { [name]: '' }), ['core', 'observability']);
      expect(result.code, `${name} blank`).not.toBe(0);
      expect(result.stderr).toContain(`${name} is not set`);
      if (name !== 'DOMAIN') expect(result.stderr).toContain('openssl rand -hex 32');
    }
  });

  it('puts the platform in profile core and the dashboards in observability, each closed under depends_on', async () => {
    const { config } = await stack();
    const inProfile = (p: string) =>
      Object.entries(config.services)
        .filter(([, s]) => s.profiles?.includes(p))
        .map(([n]) => n)
        .sort();
    expect(inProfile('core')).toEqual([...coreServices].sort());
    expect(inProfile('observability')).toEqual([...observabilityServices].sort());
    for (const [name, s] of Object.entries(config.services)) {
      expect(s.profiles?.length, `${name} has no profile: plain \`up\` would start it`).toBeGreaterThan(0);
      // `up --profile core` alone must find every dependency.
      for (const dep of Object.keys(dependencies(s))) {
        for (const p of s.profiles!) expect(svc(config, dep).profiles, `${name} (${p}) depends on ${dep}`).toContain(p);
      }
    }
  });

  it('gives every long-running service a healthcheck, and keeps one-shots out of the profiles `up` starts', async () => {
    const { config } = await stack();
    for (const [name, s] of Object.entries(config.services)) {
      if (s.restart === 'no') {
        expect(
          s.profiles!.filter((p) => p === 'core' || p === 'observability'),
          `one-shot ${name}`,
        ).toEqual([]);
        continue;
      }
      const test = args(s.healthcheck?.test);
      expect(s.healthcheck?.disable, name).not.toBe(true);
      expect(test[0], `${name} has no healthcheck`).toMatch(/^CMD(-SHELL)?$/);
      expect(test.length, name).toBeGreaterThan(1);
    }
  });

  it('waits on dependencies with conditions, and service_healthy only on services that report health', async () => {
    const { config } = await stack();
    let edges = 0;
    for (const [name, s] of Object.entries(config.services)) {
      for (const [dep, { condition }] of Object.entries(dependencies(s))) {
        edges++;
        expect(['service_healthy', 'service_completed_successfully'], `${name} -> ${dep}`).toContain(condition);
        if (condition === 'service_healthy') expect(svc(config, dep).healthcheck?.test, `${dep} has no healthcheck`).toBeDefined();
      }
    }
    expect(edges).toBeGreaterThan(0);
    for (const name of builtInAgentNames) expect(Object.keys(dependencies(svc(config, name)))).toContain('consul');
    expect(dependencies(svc(config, 'orchestrator'))).toMatchObject({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
    expect(dependencies(svc(config, 'caddy'))).toMatchObject({ orchestrator: { condition: 'service_healthy' } });
  });

  it('keeps data in named volumes, declared at the top level', async () => {
    const { config, env } = await stack();
    const dataPaths: Record<string, string> = {
      postgres: '/var/lib/postgresql/data',
      redis: '/data',
      consul: '/consul/data',
      caddy: '/data',
      prometheus: '/prometheus',
      alertmanager: '/alertmanager',
      grafana: '/var/lib/grafana',
    };
    for (const [name, path] of Object.entries(dataPaths)) {
      const m = mounts(svc(config, name)).find((x) => x.target === path);
      expect(m?.named, `${name}:${path} is not a named volume`).toBe(true);
    }
    for (const [name, s] of Object.entries(config.services)) {
      for (const m of mounts(s)) {
        if (m.named) expect(Object.keys(config.volumes ?? {}), `${name} mounts undeclared volume ${m.source}`).toContain(m.source);
        else
          expect((await stat(m.source).catch(() => undefined)) !== undefined, `${name} mounts ${m.source}, which does not exist`).toBe(
            true,
          );
      }
    }
    expect(args(svc(config, 'redis').command)).toEqual(
      expect.arrayContaining(['--appendonly', 'yes', '--appendfsync', 'everysec', '--requirepass', env.REDIS_PASSWORD]),
    );
  });

  it('publishes only Caddy beyond loopback; Postgres and Redis publish nothing', async () => {
    const { config } = await stack();
    for (const [name, s] of Object.entries(config.services)) {
      for (const p of published(s)) {
        if (name === 'caddy') continue;
        expect(p.hostIp, `${name} publishes ${p.hostPort}`).toBe('127.0.0.1');
      }
    }
    expect(published(svc(config, 'caddy')).map((p) => `${p.hostIp}:${p.hostPort}`)).toEqual(
      expect.arrayContaining(['0.0.0.0:80', '0.0.0.0:443']),
    );
    expect(published(svc(config, 'postgres'))).toEqual([]);
    expect(published(svc(config, 'redis'))).toEqual([]);
    // What the SSH tunnel forwards: Grafana, Prometheus, Jaeger, Alertmanager, Consul.
    const local = Object.fromEntries(
      ['grafana', 'prometheus', 'jaeger', 'alertmanager', 'consul'].map((n) => [n, published(svc(config, n)).map((p) => p.hostPort)]),
    );
    expect(local).toEqual({ grafana: ['3000'], prometheus: ['9090'], jaeger: ['16686'], alertmanager: ['9093'], consul: ['8500'] });
  });

  it('runs every app container from the one image with a role argument and a configuration the platform accepts', async () => {
    const { config, env } = await stack();
    const apps = appServices(config);
    expect(apps.map(([n]) => n).sort()).toEqual(Object.keys(ports).sort());
    const images = new Set(apps.map(([, s]) => `${s.image} ${JSON.stringify(s.build)}`));
    expect(images.size, [...images].join('\n')).toBe(1);
    expect(apps[0]![1].build).toMatchObject({ context: root.replace(/\/$/, ''), dockerfile: 'compose/Dockerfile', target: 'runtime' });
    for (const [name, s] of apps) {
      const command = args(s.command);
      expect(command, name).toEqual(builtInAgentNames.includes(name) ? ['agent', name] : [name]);
      expect(s.entrypoint, `${name} must keep the image's entrypoint (the CLI)`).toBeUndefined();
      const e = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v ?? '']));
      // The platform's own schema decides: a bad value here stops the container at start.
      const c = loadConfig(e);
      expect(c.host, name).toBe('0.0.0.0');
      expect(c.port, name).toBe(ports[name]);
      expect(c.databaseUrl, name).toMatch(/@postgres:5432\//);
      expect(c.redisUrl, name).toBe(`redis://:${env.REDIS_PASSWORD}@redis:6379`);
      expect(c.discovery.kind, name).toBe('consul');
      expect(c.knowledgeUrl, name).toBe(`http://knowledge:${ports.knowledge}`);
      expect(c.tracing.endpoint, name).toBe('http://jaeger:4318');
      if (builtInAgentNames.includes(name)) {
        expect(c.discovery.advertiseHost, name).toBe(name);
        expect(c.auth.internalToken, `${name} must check the orchestrator's token`).toBe(env.INTERNAL_TOKEN);
      }
      // The admin key is the orchestrator's alone: agents run model-directed work.
      if (name !== 'orchestrator') expect(c.auth.adminKey, name).toBeUndefined();
    }
    const o = loadConfig(Object.fromEntries(Object.entries(svc(config, 'orchestrator').environment ?? {}).map(([k, v]) => [k, v ?? ''])));
    expect(svc(config, 'orchestrator').environment?.ORCHESTRATOR_ID).toBeTruthy();
    // Only Caddy is believed, at the fixed address it has on the stack's network.
    expect(o.trustProxy).toEqual([svc(config, 'caddy').networks?.default?.ipv4_address]);
    expect(o.trustProxy).toEqual(['172.30.240.2']);
    expect(o.auth).toMatchObject({ mode: 'keys', adminKey: env.ADMIN_API_KEY, internalToken: env.INTERNAL_TOKEN });
    expect(o.agentUrls).toEqual(Object.fromEntries(builtInAgentNames.map((name) => [name, `http://${name}:${ports[name]}`])));
    expect(
      loadConfig(Object.fromEntries(Object.entries(svc(config, 'mcp-gateway').environment ?? {}).map(([k, v]) => [k, v ?? ''])))
        .orchestratorUrl,
    ).toBe(`http://orchestrator:${ports.orchestrator}`);
  });

  it('runs Prometheus with 30 days of retention, its config, and rule files promtool accepts; every scrape target is a service', async () => {
    const { config } = await stack();
    const prometheus = svc(config, 'prometheus');
    const flags = args(prometheus.command);
    expect(flags).toContain('--storage.tsdb.retention.time=30d');
    const configPath = flags.find((f) => f.startsWith('--config.file='))!.slice('--config.file='.length);
    const [mounted] = await mountedFiles(prometheus, configPath);
    expect(mounted?.host, `${configPath} is not mounted`).toBe(join(root, 'monitoring/prometheus/prometheus.yml'));
    const promConfig = parse(await readFile(mounted!.host, 'utf8')) as {
      rule_files: string[];
      alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
      scrape_configs: Array<{
        job_name: string;
        static_configs?: Array<{ targets: string[] }>;
        consul_sd_configs?: Array<{ server: string }>;
      }>;
    };
    // Every file the rule_files globs find in the container must load, or Prometheus will not start.
    const ruleFiles = (await Promise.all(promConfig.rule_files.map((g) => mountedFiles(prometheus, g)))).flat();
    expect(ruleFiles.map((f) => relative(root, f.host))).toContain('monitoring/prometheus/rules/alerts.yml');
    const check = await runTool('promtool', ['check', 'rules', ...ruleFiles.map((f) => f.host)], { debianPackage: 'prometheus' });
    expect(check.code, check.stdout + check.stderr).toBe(0);

    const portOf = (name: string): number => {
      const s = svc(config, name);
      const fromEnv = s.environment?.PORT;
      return fromEnv ? Number(fromEnv) : Number(published(s)[0]?.containerPort);
    };
    const targets = [
      ...promConfig.scrape_configs.flatMap((j) => (j.static_configs ?? []).flatMap((sc) => sc.targets)),
      ...promConfig.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((sc) => sc.targets)),
      ...promConfig.scrape_configs.flatMap((j) => (j.consul_sd_configs ?? []).map((c) => c.server)),
    ];
    expect(targets.length).toBeGreaterThan(3);
    for (const target of targets) {
      const [host, port] = target.split(':');
      expect(portOf(host!), `${target} is not a compose service on that port`).toBe(Number(port));
    }
  });

  it('gives Alertmanager its config and writes the Slack webhook into the file the config reads', async () => {
    const { config } = await stack();
    const am = svc(config, 'alertmanager');
    const entry = args(am.entrypoint).join(' ');
    const configPath = /--config\.file=(\S+)/.exec(entry)?.[1];
    expect(configPath).toBeDefined();
    const [mounted] = await mountedFiles(am, configPath!);
    expect(mounted?.host).toBe(join(root, 'monitoring/alertmanager/alertmanager.yml'));
    const files = [...(await readFile(mounted!.host, 'utf8')).matchAll(/api_url_file:\s*(\S+)/g)].map((m) => m[1]!);
    expect(files.length).toBeGreaterThan(0);
    // The shell sees $SLACK_WEBHOOK_URL (compose keeps $$ as the escape of one $).
    for (const f of files) expect(entry).toMatch(new RegExp(`printf '%s' "\\$\\$?SLACK_WEBHOOK_URL" > ${f.replace(/[.]/g, '\\.')}`));
    expect(am.environment?.SLACK_WEBHOOK_URL).toMatch(/^https?:\/\//);
  });

  it('provisions Grafana from monitoring/grafana with everything its provisioning files interpolate', async () => {
    const { config, env } = await stack();
    const grafana = svc(config, 'grafana');
    const m = mounts(grafana);
    expect(m.find((x) => x.target === '/etc/grafana/provisioning')).toMatchObject({
      source: join(root, 'monitoring/grafana/provisioning'),
      readOnly: true,
    });
    const provisioning = join(root, 'monitoring/grafana/provisioning');
    const texts = await Promise.all(
      (await readdir(provisioning, { recursive: true }))
        .filter((f) => f.endsWith('.yml'))
        .map((f) => readFile(join(provisioning, f), 'utf8')),
    );
    const providers = (
      parse(await readFile(join(provisioning, 'dashboards/dashboards.yml'), 'utf8')) as { providers: Array<{ options: { path: string } }> }
    ).providers;
    for (const p of providers) expect(m.find((x) => x.target === p.options.path)?.source).toBe(join(root, 'monitoring/grafana/dashboards'));
    for (const name of new Set(texts.flatMap((t) => [...t.matchAll(/\$\{(\w+)\}/g)].map((x) => x[1]!)))) {
      expect(grafana.environment?.[name], `provisioning reads \${${name}}`).toBeTruthy();
    }
    // The data sources name services of the stack, on the ports those serve.
    const datasources = (
      parse(await readFile(join(provisioning, 'datasources/datasources.yml'), 'utf8')) as { datasources: Array<{ url: string }> }
    ).datasources;
    for (const d of datasources) expect(Object.keys(config.services)).toContain(new URL(d.url).hostname);
    expect(grafana.environment?.GF_SECURITY_ADMIN_PASSWORD).toBe(env.GRAFANA_ADMIN_PASSWORD);
  });

  it('has a backup one-shot on the backup target that archives the volumes it mounts read-only, and a restore that may write them', async () => {
    const { config } = await stack();
    const backup = svc(config, 'backup');
    expect(backup.profiles).toEqual(['backup']);
    expect(backup.build?.target).toBe('backup');
    expect(backup.depends_on, 'a `run` naming no profile cannot start dependencies in profile core').toBeUndefined();
    const e = backup.environment ?? {};
    for (const k of [
      'DATABASE_URL',
      'REDIS_URL',
      'BACKUP_DIR',
      'BACKUP_VOLUMES',
      'SPACES_BUCKET',
      'SPACES_REGION',
      'SPACES_ENDPOINT',
      'SPACES_ACCESS_KEY_ID',
      'SPACES_SECRET_ACCESS_KEY',
    ]) {
      expect(Object.keys(e), k).toContain(k);
    }
    expect(e.DATABASE_URL).toBe(svc(config, 'orchestrator').environment?.DATABASE_URL);
    const m = mounts(backup);
    expect(m.find((x) => x.target === e.BACKUP_DIR)).toMatchObject({ named: true, readOnly: false });
    const archived = e.BACKUP_VOLUMES!.split(/\s+/);
    expect(archived.length).toBeGreaterThan(0);
    for (const dir of archived)
      expect(
        m.find((x) => x.target === dir),
        dir,
      ).toMatchObject({ named: true, readOnly: true });
    expect(m.filter((x) => x.named).map((x) => x.source)).toEqual(expect.arrayContaining(['grafana-data', 'caddy-data']));

    const restore = svc(config, 'restore');
    expect(restore.image).toBe(backup.image);
    expect(restore.restart).toBe('no');
    for (const dir of archived)
      expect(
        mounts(restore).find((x) => x.target === dir),
        dir,
      ).toMatchObject({ named: true, readOnly: false });
  });
});

describe('compose stack: Caddy', () => {
  const caddyfile = join(root, 'compose/Caddyfile');
  const caddy = (sub: string, env: Record<string, string>) =>
    runTool('caddy', [sub, '--adapter', 'caddyfile', '--config', caddyfile], {
      debianPackage: 'caddy',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...env },
    });

  it('validates for a public domain and for localhost, with and without a contact address', async () => {
    for (const env of [
      { DOMAIN: 'mesh.example.test', ACME_EMAIL: 'ops@example.test' },
      { DOMAIN: 'mesh.example.test', ACME_EMAIL: '' },
      { DOMAIN: 'localhost', ACME_EMAIL: '' },
    ]) {
      const result = await caddy('validate', env);
      expect(result.code, `${JSON.stringify(env)}: ${result.stderr}`).toBe(0);
    }
  });

  it('proxies the domain to the orchestrator only, keeps /metrics private, and gets certificates with the ACME address', async () => {
    const { config } = await stack();
    const adapted = await caddy('adapt', { DOMAIN: 'mesh.example.test', ACME_EMAIL: 'ops@example.test' });
    expect(adapted.code, adapted.stderr).toBe(0);
    const json = JSON.parse(adapted.stdout) as {
      apps: {
        http: unknown;
        tls?: { automation?: { policies?: Array<{ subjects?: string[]; issuers?: Array<{ module: string; email?: string }> }> } };
      };
    };
    const text = JSON.stringify(json.apps.http);
    const dials = [...text.matchAll(/"dial":"([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(dials)).toEqual(new Set([`orchestrator:${ports.orchestrator}`]));
    expect(text).toContain('"host":["mesh.example.test"]');
    expect(text).toMatch(
      /"static_response","status_code":404\},?[^]*?"path":\["\/metrics\*"\]|"path":\["\/metrics\*"\][^]*?"static_response","status_code":404/,
    );
    const policy = json.apps.tls?.automation?.policies?.find((p) => p.subjects?.includes('mesh.example.test'));
    expect(policy?.issuers?.find((i) => i.module === 'acme')?.email).toBe('ops@example.test');

    const service = svc(config, 'caddy');
    expect(mounts(service).find((m) => m.target === '/etc/caddy/Caddyfile')).toMatchObject({ source: caddyfile, readOnly: true });
    for (const name of new Set([...(await readFile(caddyfile, 'utf8')).matchAll(/\{\$(\w+)/g)].map((m) => m[1]!))) {
      expect(Object.keys(service.environment ?? {}), `the Caddyfile reads {$${name}}`).toContain(name);
    }
  });
});

describe('.env.example', () => {
  async function entries(): Promise<Array<{ name: string; value: string; commented: boolean; comment: string | undefined }>> {
    const lines = (await readFile(join(root, '.env.example'), 'utf8')).split('\n');
    const out: Array<{ name: string; value: string; commented: boolean; comment: string | undefined }> = [];
    lines.forEach((line, i) => {
      const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (!m) return;
      const prev = lines[i - 1] ?? '';
      const comment = prev.startsWith('#') && !/^#\s*[A-Z][A-Z0-9_]*=/.test(prev) ? prev.replace(/^#\s*/, '') : undefined;
      out.push({ name: m[2]!, value: m[3]!, commented: Boolean(m[1]), comment });
    });
    return out;
  }

  it('sets exactly the variables compose interpolates (nothing in it is silently unused)', async () => {
    const compose = await readFile(join(root, composeFile), 'utf8');
    const interpolated = new Set([...compose.matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
    const set = new Set((await entries()).filter((e) => !e.commented).map((e) => e.name));
    // COMPOSE_PROJECT_NAME is read by compose itself.
    expect([...set].sort()).toEqual([...interpolated, 'COMPOSE_PROJECT_NAME'].sort());
  });

  it('lists every variable of the platform configuration', async () => {
    const listed = new Set((await entries()).map((e) => e.name));
    const missing = envVariables.filter((v) => !listed.has(v));
    expect(missing, 'add them to .env.example (commented out when compose sets them)').toEqual([]);
  });

  it('explains every variable on the line above it and leaves every secret blank', async () => {
    const all = await entries();
    for (const e of all) expect(e.comment, `${e.name} has no comment`).toBeTruthy();
    const secrets = all.filter((e) => /secret/i.test(e.comment ?? ''));
    expect(secrets.map((e) => e.name)).toEqual(
      expect.arrayContaining([...requiredSecrets, 'LLM_API_KEY', 'SLACK_WEBHOOK_URL', 'SPACES_SECRET_ACCESS_KEY']),
    );
    for (const e of secrets) expect(e.value, e.name).toBe('');
    for (const name of requiredSecrets) expect(all.find((e) => e.name === name)?.comment, name).toMatch(/generate/);
    expect(await readFile(join(root, '.env.example'), 'utf8')).toContain('openssl rand -hex 32');
  });
});

describe('the image (compose/Dockerfile)', () => {
  const dockerfilePath = join(root, 'compose/Dockerfile');

  it('has a runtime stage last (the default target) on Node 24 that runs as a non-root user and installs production dependencies only', async () => {
    const file = parseDockerfile(await readFile(dockerfilePath, 'utf8'));
    expect(file.stages.at(-1)!.name).toBe('runtime');
    const chain = stageChain(file, 'runtime');
    expect(chain[0]!.from).toMatch(/^node:24[.-]/);
    const user = chain
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'USER')
      .at(-1)?.args;
    expect(user, 'runtime has no USER').toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const runs = chain
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b[^&]*--omit=dev/.test(r))).toBe(true);
    expect(
      runs.some((r) => /\bnpm ci\b(?![^&]*--omit=dev)/.test(r)),
      'dev dependencies installed in the runtime',
    ).toBe(false);
  });

  it('has a backup target on the same base, with bash, the Postgres and Redis clients, the AWS CLI and tar, and the scripts it runs', async () => {
    const file = parseDockerfile(await readFile(dockerfilePath, 'utf8'));
    const backup = stageChain(file, 'backup');
    const runtime = stageChain(file, 'runtime');
    expect(backup.at(-2)?.name, 'backup and runtime share a base stage').toBe(runtime.at(-2)?.name);
    const install = backup
      .at(-1)!
      .instructions.filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join(' ');
    for (const pkg of ['bash', 'postgresql-client', 'redis-tools', 'awscli', 'tar'])
      expect(install).toMatch(new RegExp(`apt-get install[^&]*\\s${pkg}(\\s|$)`));
    // A COPY of a file the context lacks fails `docker build`; the simulation's rule, checked statically here.
    const context = new Set(await contextFiles(root));
    const copies = backup.at(-1)!.instructions.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='));
    for (const c of copies) {
      for (const src of c.args.split(/\s+/).slice(0, -1)) {
        const rel = src.replace(/\/+$/, '');
        expect(context.has(rel) || [...context].some((f) => f.startsWith(`${rel}/`)), `COPY ${src}: not in the build context`).toBe(true);
      }
    }
    const cmd = execForm(
      backup
        .at(-1)!
        .instructions.filter((i) => i.keyword === 'CMD')
        .at(-1)!.args,
    )!;
    expect(cmd[0]).toBe('/app/scripts/backup.sh');
    expect(copies.some((c) => c.args.includes('scripts/backup.sh') && c.args.trim().endsWith('/app/scripts/'))).toBe(true);
  });

  it(
    'builds (simulated stage by stage) into an image whose entrypoint runs every role, with its migrations, workflows, proto and docs',
    { timeout: 300_000 },
    async () => {
      const file = parseDockerfile(await readFile(dockerfilePath, 'utf8'));
      const workDir = await mkdtemp(join(tmpdir(), 'image-build-'));
      onTestFinished(() => rm(workDir, { recursive: true, force: true }));
      const { runtime } = await buildTargets(file, ['runtime'], { context: root, workDir, nodeModules: join(root, 'node_modules') });
      const { entrypoint, cmd, workdir } = runtime!.config;
      expect(entrypoint?.[0]).toBe('node');
      const script = hostPath(runtime!.root, posix.resolve(workdir, entrypoint![1]!));
      expect((await stat(script).catch(() => undefined))?.isFile(), `${entrypoint![1]} is not in the built image`).toBe(true);
      expect(cmd?.[0]).toBe('orchestrator');
      // The runtime carries the compiled code, not the sources or the compiler's config.
      const app = hostPath(runtime!.root, workdir);
      expect((await readdir(app)).sort()).not.toEqual(expect.arrayContaining(['services']));

      // Every package the compiled code imports must survive `npm ci --omit=dev`.
      const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      const imported = new Set<string>();
      for (const f of (await readdir(join(app, 'dist'), { recursive: true })).filter((x) => x.endsWith('.js'))) {
        const js = await readFile(join(app, 'dist', f), 'utf8');
        // A package name, not text that happens to follow "from" in a message (`from "${step}"`).
        for (const m of js.matchAll(/(?:from\s+|import\(\s*|createRequire\([^)]*\)\(\s*)['"]([@a-z][^'"\s$]*)['"]/g)) {
          const spec = m[1]!;
          if (spec.startsWith('node:')) continue;
          imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        }
      }
      expect(imported.size).toBeGreaterThan(5);
      expect(
        [...imported].filter((p) => !(p in pkg.dependencies)),
        'imported by dist/ but not a production dependency',
      ).toEqual([]);

      // The image's command line, every role in one process: the entrypoint plus `start`.
      const child = spawn(process.execPath, [script, 'start'], {
        cwd: app,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: tmpdir(),
          HOST: '127.0.0.1',
          PORT: '0',
          PGLITE_DATA_DIR: 'memory://',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      onTestFinished(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const urls = await poll(
        () => {
          if (child.exitCode !== null) throw new Error(`the image exited ${child.exitCode}: ${out}`);
          const found = Object.fromEntries(
            [...out.matchAll(/^agentic-mesh: (.+?) listening on (http:\/\/\S+)/gm)].map((m) => [m[1]!, m[2]!]),
          );
          return Object.keys(found).length >= 3 + builtInAgentNames.length ? found : undefined;
        },
        { timeoutMs: 120_000, label: 'every role of the built image to listen', intervalMs: 200 },
      );
      expect(Object.keys(urls).sort()).toEqual(
        ['knowledge', 'mcp-gateway', 'orchestrator', ...builtInAgentNames.map((name) => `agent ${name}`)].sort(),
      );

      // Migrations and the built-in workflows: the orchestrator plans and runs a workflow on an agent.
      const res = await fetch(`${urls.orchestrator}/orchestrate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          plan: {
            steps: [{ id: 'review', agent: 'code-review', input: { files: [{ path: 'a.ts', content: 'export const a: number = 1;\n' }] } }],
          },
          wait: true,
        }),
      });
      const done = (await res.json()) as { status: string };
      expect(done.status, JSON.stringify(done)).toBe('succeeded');
      const named = ((await (await fetch(`${urls.orchestrator}/workflows`)).json()) as { workflows: unknown[] }).workflows;
      const sources = (await readdir(join(root, 'services/orchestrator/workflows'))).filter((f) => /\.ya?ml$/.test(f));
      expect(sources.length).toBeGreaterThan(0);
      expect(named).toHaveLength(sources.length);

      // The project's Markdown travelled with the compiled code: the same documents as the sources.
      const expected = (await readProjectDocs()).length;
      expect(expected).toBeGreaterThan(5);
      const ready = await poll(
        async () => {
          const r = (await (await fetch(`${urls.knowledge}/ready`)).json()) as { checks?: { documents?: string } };
          return Number(r.checks?.documents) === expected ? r : undefined;
        },
        { timeoutMs: 30_000, label: `the image's knowledge service to index ${expected} documents` },
      );
      expect(ready.checks?.documents).toBe(String(expected));
    },
  );
});
