import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { writeDropletDoubles } from '../doubles/droplet-commands.ts';
import { tripwireCalls, writeTripwires } from '../doubles/tripwire-commands.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = 'scripts/deploy_to_do.sh';
const REMOTE = join(ROOT, 'scripts/deploy/remote.sh');
const BASH = '/bin/bash';

// The real tools the script may look at; the sandbox PATH holds exactly these plus the tripwires,
// so a command the script uses without declaring it fails the test too.
const REAL_TOOLS = [
  'bash',
  'env',
  'dirname',
  'head',
  'tr',
  'cat',
  'mktemp',
  'cp',
  'mv',
  'chmod',
  'rm',
  'sleep',
  'sed',
  'grep',
  'git',
  'npm',
  'curl',
  'openssl',
  'timeout',
];
const TRIPWIRES = ['terraform', 'ssh', 'scp'];
const GENERATED = ['ADMIN_API_KEY', 'INTERNAL_TOKEN', 'POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'GRAFANA_ADMIN_PASSWORD'];

function which(tool: string): string {
  return execFileSync(BASH, ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
}

function git(cwd: string, home: string, ...args: string[]): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=deploy test', '-c', 'user.email=deploy-test@example.invalid', '-c', 'init.defaultBranch=main', ...args],
    {
      cwd,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: home },
    },
  );
}

interface Sandbox {
  dir: string;
  repo: string;
  home: string;
  bin: string;
  log: string;
  suffix: string;
}

/**
 * A checkout holding what the script reads (itself, scripts/deploy/, package.json, the CDKTF
 * entry point and compose file it checks for, node_modules), committed, with a HOME that has a
 * freshly generated SSH key and a bin directory of real tools plus tripwires.
 */
async function sandbox(opts: { without?: string[] } = {}): Promise<Sandbox> {
  const suffix = randomBytes(4).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), `deploy-script-${suffix}-`));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const repo = join(dir, 'repo');
  const home = join(dir, 'home');
  const bin = join(dir, 'bin');
  const log = join(dir, 'tripwire.log');
  await mkdir(join(repo, 'scripts/deploy'), { recursive: true });
  await mkdir(join(repo, 'terraform'), { recursive: true });
  await mkdir(join(repo, 'compose'), { recursive: true });
  await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  await mkdir(bin);

  await copyFile(join(ROOT, SCRIPT), join(repo, SCRIPT));
  for (const name of readdirSync(join(ROOT, 'scripts/deploy')))
    await copyFile(join(ROOT, 'scripts/deploy', name), join(repo, 'scripts/deploy', name));
  await copyFile(join(ROOT, 'package.json'), join(repo, 'package.json'));
  // The dry run only checks these exist; it never runs them.
  await writeFile(join(repo, 'terraform/main.ts'), '// sandbox stand-in: the dry run checks that the CDKTF app exists\n');
  await writeFile(join(repo, 'compose/docker-compose.yml'), '# sandbox stand-in: the dry run checks that the compose file exists\n');
  await writeFile(
    join(repo, '.env.example'),
    ['DOMAIN=', 'ACME_EMAIL=', ...GENERATED.map((k) => `${k}=`), 'SPACES_BUCKET=', ''].join('\n'),
  );
  await writeFile(join(repo, '.gitignore'), '.env\nnode_modules\n');
  await symlink(join(ROOT, 'node_modules'), join(repo, 'node_modules'));
  git(repo, home, 'init', '-q');
  git(repo, home, 'add', '.');
  git(repo, home, 'commit', '-q', '-m', 'sandbox');

  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `deploy-test-${suffix}`, '-f', join(home, '.ssh/id_ed25519')]);

  const without = new Set(opts.without ?? []);
  for (const tool of REAL_TOOLS) if (!without.has(tool)) await symlink(which(tool), join(bin, tool));
  await writeTripwires(
    bin,
    TRIPWIRES.filter((t) => !without.has(t)),
    log,
  );
  return { dir, repo, home, bin, log, suffix };
}

function secrets() {
  return {
    DIGITALOCEAN_TOKEN: `dop_v1_${randomBytes(32).toString('hex')}`,
    SPACES_ACCESS_KEY_ID: `DO00${randomBytes(8).toString('hex').toUpperCase()}`,
    SPACES_SECRET_ACCESS_KEY: randomBytes(24).toString('base64url'),
  };
}

function runScript(sb: Sandbox, args: string[], env: Record<string, string> = {}) {
  // Nothing inherited: a token in the developer's own environment must not leak into the run.
  const result = spawnSync(BASH, [join(sb.repo, SCRIPT), ...args], {
    cwd: sb.repo,
    env: { PATH: sb.bin, HOME: sb.home, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, all: result.stdout + result.stderr };
}

/** Every path under dir with its size, mtime and content hash (symlinks as their target). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      const key = relative(dir, p);
      if (st.isSymbolicLink()) out[key] = `link:${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[key] = `dir:${st.mode}`;
        walk(p);
      } else out[key] = `${st.size}:${st.mtimeMs}:${st.mode}:${createHash('sha1').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

function stepNames(output: string): string[] {
  return [...output.matchAll(/^==> \[\d+\/\d+\] ([a-z]+)/gm)].map((m) => m[1]!);
}

describe('deploy_to_do.sh --dry-run', () => {
  it('prints every step and its commands with secrets redacted, and touches nothing', async () => {
    const sb = await sandbox();
    const tokens = secrets();
    const domain = `api-${sb.suffix}.example.com`;
    const before = { repo: snapshot(sb.repo), home: snapshot(sb.home) };

    const r = runScript(sb, ['--dry-run', '--admin-ip', '203.0.113.7', '--domain', domain], tokens);

    expect(r.stderr).not.toMatch(/command not found/);
    expect(r.code, r.all).toBe(0);
    expect(stepNames(r.stdout)).toEqual(['env', 'synth', 'apply', 'ssh', 'ship', 'up', 'health']);
    expect(r.stdout).toContain(
      '.env does not exist: create it from .env.example with generated ADMIN_API_KEY INTERNAL_TOKEN POSTGRES_PASSWORD REDIS_PASSWORD GRAFANA_ADMIN_PASSWORD',
    );
    expect(r.stdout).toContain('$ npm run synth');
    expect(r.stdout).toContain('$ terraform -chdir=terraform/cdktf.out/stacks/droplet init -input=false');
    expect(r.stdout).toContain('$ terraform -chdir=terraform/cdktf.out/stacks/droplet apply -auto-approve -input=false');
    expect(r.stdout).toContain('$ DIGITALOCEAN_TOKEN=[redacted]');
    expect(r.stdout).toContain('$ TF_VAR_admin_ip=203.0.113.7');
    expect(r.stdout).toContain(`$ TF_VAR_domain=${domain}`);
    expect(r.stdout).toContain(`deploy-test-${sb.suffix}`); // the public key goes to TF_VAR_ssh_public_key
    expect(r.stdout).toMatch(/\$ git archive --format=tar\.gz -o '?<local temp dir>\/bundle\.tar\.gz'? HEAD/);
    expect(r.stdout).toMatch(/\$ scp .*bundle\.tar\.gz'? .*root@<droplet_ip>:/);
    expect(r.stdout).toContain(
      'docker compose --env-file .env -f compose/docker-compose.yml --profile core --profile observability up -d --build',
    );
    expect(r.stdout).toMatch(/remote\.sh'? wait-healthy \/opt\/agentic-mesh 60 10/);
    expect(r.stdout).toContain(`$ curl -fsS --max-time 10 --resolve ${domain}:443:<droplet_ip> https://${domain}/health`);
    for (const value of Object.values(tokens)) expect(r.all).not.toContain(value);

    expect(await tripwireCalls(sb.log)).toEqual([]);
    expect(existsSync(join(sb.repo, '.env'))).toBe(false);
    expect({ repo: snapshot(sb.repo), home: snapshot(sb.home) }).toEqual(before);
  });

  it('reads DOMAIN and the Spaces keys from an existing env file and never prints its secrets', async () => {
    const sb = await sandbox();
    const { DIGITALOCEAN_TOKEN, SPACES_ACCESS_KEY_ID, SPACES_SECRET_ACCESS_KEY } = secrets();
    const generated = Object.fromEntries(GENERATED.map((k) => [k, randomBytes(32).toString('hex')]));
    const domain = `mesh-${sb.suffix}.example.org`;
    const envFile = join(sb.dir, 'deploy.env');
    const lines = [
      `DOMAIN=${domain}`,
      'ACME_EMAIL=ops@example.org',
      ...Object.entries(generated).map(([k, v]) => `${k}=${v}`),
      `SPACES_ACCESS_KEY_ID=${SPACES_ACCESS_KEY_ID}`,
      `SPACES_SECRET_ACCESS_KEY="${SPACES_SECRET_ACCESS_KEY}"`,
    ];
    await writeFile(envFile, `${lines.join('\n')}\n`, { mode: 0o600 });
    const before = { repo: snapshot(sb.repo), home: snapshot(sb.home), env: await readFile(envFile, 'utf8') };

    const r = runScript(sb, ['--dry-run', '--env-file', envFile, '--region', 'fra1', '--extra-port', '8443'], {
      DIGITALOCEAN_TOKEN,
      ADMIN_IP: '198.51.100.0/24',
    });

    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain(`using ${envFile} (DOMAIN=${domain})`);
    expect(r.stdout).toContain('$ TF_VAR_region=fra1');
    expect(r.stdout).toContain('$ TF_VAR_spaces_region=fra1');
    expect(r.stdout).toContain('$ TF_VAR_admin_ip=198.51.100.0/24');
    expect(r.stdout).toContain('$ TF_VAR_extra_inbound_ports=[8443]');
    expect(r.stdout).toContain('$ SPACES_SECRET_ACCESS_KEY=[redacted]');
    for (const value of [DIGITALOCEAN_TOKEN, SPACES_ACCESS_KEY_ID, SPACES_SECRET_ACCESS_KEY, ...Object.values(generated)])
      expect(r.all).not.toContain(value);
    expect(await tripwireCalls(sb.log)).toEqual([]);
    expect({ repo: snapshot(sb.repo), home: snapshot(sb.home), env: await readFile(envFile, 'utf8') }).toEqual(before);
  });

  it('shows a destroy without running it', async () => {
    const sb = await sandbox();
    const r = runScript(sb, ['--dry-run', '--destroy', '--admin-ip', '203.0.113.7', '--domain', 'x.example.com'], secrets());
    expect(r.code, r.all).toBe(0);
    expect(stepNames(r.stdout)).toEqual(['synth', 'init', 'destroy']);
    expect(r.stdout).toContain('$ terraform -chdir=terraform/cdktf.out/stacks/droplet destroy -auto-approve -input=false');
    expect(await tripwireCalls(sb.log)).toEqual([]);
  });

  it('shows --local-build building both images here and sending them, and up without --build', async () => {
    const sb = await sandbox();
    // A docker double that only answers which architecture it builds for: the dry run's one docker call.
    const calls = join(sb.dir, 'docker.log');
    await writeFile(
      join(sb.bin, 'docker'),
      `#!/bin/bash\nprintf '%s\\n' "$*" >> '${calls}'\n[ "$1" = info ] && { echo x86_64; exit 0; }\nexit 3\n`,
      { mode: 0o755 },
    );
    const args = ['--dry-run', '--local-build', '--admin-ip', '203.0.113.7', '--domain', 'x.example.com'];
    const r = runScript(sb, args, { ...secrets(), NODE_IMAGE: 'mirror.example/node:24-trixie-slim' });
    expect(r.code, r.all).toBe(0);
    expect(stepNames(r.stdout)).toEqual(['env', 'synth', 'apply', 'ssh', 'ship', 'up', 'health']);
    for (const [target, image] of [
      ['runtime', 'agentic-mesh:local'],
      ['backup', 'agentic-mesh:local-backup'],
    ])
      expect(r.stdout).toMatch(
        new RegExp(
          `\\$ docker build -f '?<local temp dir>/context/compose/Dockerfile'? --build-arg NODE_IMAGE=mirror.example/node:24-trixie-slim --target ${target} -t ${image} '?<local temp dir>/context'?`,
        ),
      );
    expect(r.stdout).toMatch(/\$ docker save agentic-mesh:local agentic-mesh:local-backup '\|' ssh .* root@<droplet_ip> docker load -q/);
    expect(r.stdout).toMatch(/remote\.sh'? up \/opt\/agentic-mesh --no-build/);
    expect(r.stdout).not.toContain('up -d --build');
    expect((await readFile(calls, 'utf8')).trim().split('\n')).toEqual(['info --format {{.Architecture}}']);
    expect(await tripwireCalls(sb.log)).toEqual([]);

    const without = await sandbox();
    const missing = runScript(without, args, secrets());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--local-build needs Docker on this machine');
  });
});

describe('deploy_to_do.sh preflight', () => {
  it('exits non-zero naming DIGITALOCEAN_TOKEN when it is missing', async () => {
    const sb = await sandbox();
    const { SPACES_ACCESS_KEY_ID, SPACES_SECRET_ACCESS_KEY } = secrets();
    const r = runScript(sb, ['--dry-run', '--admin-ip', '203.0.113.7', '--domain', 'x.example.com'], {
      SPACES_ACCESS_KEY_ID,
      SPACES_SECRET_ACCESS_KEY,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot deploy yet, 1 problem\(s\)/);
    expect(r.stderr).toMatch(/DIGITALOCEAN_TOKEN is not set: create a read\/write token at https:\/\/cloud\.digitalocean\.com/);
    expect(stepNames(r.stdout)).toEqual([]);
    expect(await tripwireCalls(sb.log)).toEqual([]);
  });

  it('collects every problem before exiting, each with its fix', async () => {
    const sb = await sandbox();
    await rm(join(sb.home, '.ssh'), { recursive: true });
    const r = runScript(sb, []);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot deploy yet, 6 problem\(s\)/);
    for (const named of [
      'DIGITALOCEAN_TOKEN',
      'SPACES_ACCESS_KEY_ID',
      'SPACES_SECRET_ACCESS_KEY',
      'ADMIN_IP is not set: pass --admin-ip',
      'DOMAIN is not set: pass --domain',
      `${sb.home}/.ssh/id_ed25519.pub not found: create one with ssh-keygen`,
    ]) {
      expect(r.stderr).toContain(named);
    }
    expect(await tripwireCalls(sb.log)).toEqual([]);
  });

  it('names a missing tool', async () => {
    const sb = await sandbox({ without: ['curl', 'terraform'] });
    const r = runScript(sb, ['--dry-run', '--admin-ip', '203.0.113.7', '--domain', 'x.example.com'], secrets());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot deploy yet, 2 problem\(s\)/);
    expect(r.stderr).toMatch(/- curl is not installed/);
    expect(r.stderr).toMatch(/- terraform \(or OpenTofu's tofu\) is not installed/);
    expect(await tripwireCalls(sb.log)).toEqual([]);
  });

  it('uses tofu when terraform is missing', async () => {
    const sb = await sandbox({ without: ['terraform'] });
    await writeTripwires(sb.bin, ['tofu'], sb.log);
    const r = runScript(sb, ['--dry-run', '--admin-ip', '203.0.113.7', '--domain', 'x.example.com'], secrets());
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain('$ tofu -chdir=terraform/cdktf.out/stacks/droplet apply -auto-approve -input=false');
    expect(await tripwireCalls(sb.log)).toEqual([]);
  });

  it('refuses an existing env file with a blank or short secret', async () => {
    const sb = await sandbox();
    const envFile = join(sb.dir, 'short.env');
    await writeFile(
      envFile,
      `DOMAIN=x.example.com\nADMIN_API_KEY=tooshort\nINTERNAL_TOKEN=${'a'.repeat(64)}\nPOSTGRES_PASSWORD=\nREDIS_PASSWORD=${'c'.repeat(64)}\nGRAFANA_ADMIN_PASSWORD=${'b'.repeat(64)}\n`,
    );
    const r = runScript(sb, ['--dry-run', '--env-file', envFile, '--admin-ip', '203.0.113.7'], secrets());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ADMIN_API_KEY in');
    expect(r.stderr).toContain('shorter than 32 characters');
    expect(r.stderr).toContain('POSTGRES_PASSWORD is empty');
    expect(r.all).not.toContain('tooshort');
  });
});

describe('deploy_to_do.sh, a full run against doubles of DigitalOcean and the droplet', () => {
  // What the droplet side needs on top of the sandbox tools: remote.sh runs through the ssh double.
  const DROPLET_TOOLS = ['tar', 'gzip', 'find', 'sort', 'wc', 'install', 'mkdir', 'basename', 'tee', 'tail'];

  it('creates .env, applies, ships, starts the stack, waits for health and prints the URLs', async () => {
    const sb = await sandbox({ without: ['terraform', 'ssh', 'scp', 'curl', 'npm'] });
    for (const tool of DROPLET_TOOLS) await symlink(which(tool), join(sb.bin, tool));
    const cloudInit = join(sb.bin, 'cloud-init');
    await writeFile(
      cloudInit,
      '#!/bin/bash\n# double: cloud-init has finished\n[ "$1" = status ] && { [ "${2:-}" = --wait ] || echo "status: done"; exit 0; }\nexit 2\n',
      { mode: 0o755 },
    );
    const stateDir = join(sb.dir, 'state');
    await mkdir(stateDir);
    const bucket = `agentic-mesh-backups-${sb.suffix}`;
    await writeDropletDoubles(sb.bin, {
      logFile: sb.log,
      stateDir,
      dropletIp: '127.0.0.1',
      bucket,
      containers: ['compose-orchestrator-1', 'compose-postgres-1'],
      startingPolls: 2,
    });
    const target = join(sb.dir, 'opt-agentic-mesh');
    // The "droplet" stages its upload in /tmp as the real one does; leave none behind if the run fails.
    onTestFinished(async () => {
      const log = existsSync(sb.log) ? await readFile(sb.log, 'utf8') : '';
      for (const stage of new Set(log.match(/\/tmp\/agentic-mesh-deploy\.[A-Za-z0-9]+/g) ?? []))
        await rm(stage, { recursive: true, force: true });
    });
    const tokens = secrets();
    const domain = `api-${sb.suffix}.example.com`;

    const r = runScript(sb, ['--admin-ip', '203.0.113.7', '--domain', domain], {
      ...tokens,
      DEPLOY_REMOTE_DIR: target,
      WAIT_INTERVAL_S: '1',
      HEALTH_ATTEMPTS: '5',
      SSH_ATTEMPTS: '2',
    });

    expect(r.code, r.all).toBe(0);
    for (const value of Object.values(tokens)) expect(r.all).not.toContain(value);
    expect(r.stdout).toContain('Agentic Mesh is up.');
    expect(r.stdout).toContain(`API           https://${domain}`);
    expect(r.stdout).toContain('ssh -N -L 3000:127.0.0.1:3000 -L 9090:127.0.0.1:9090 -L 16686:127.0.0.1:16686');
    expect(r.stdout).toContain(`to the Spaces bucket ${bucket}`);

    // The generated .env: four fresh secrets, private.
    const envFile = join(sb.repo, '.env');
    const local = await readFile(envFile, 'utf8');
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    for (const key of GENERATED) expect(local).toMatch(new RegExp(`^${key}=[0-9a-f]{64}$`, 'm'));
    expect(local).toContain(`DOMAIN=${domain}`);
    for (const key of GENERATED) expect(r.all).not.toContain(local.match(new RegExp(`^${key}=(.*)$`, 'm'))![1]);

    // On the "droplet": HEAD unpacked, and the shipped .env is the local one plus what the apply made.
    expect(existsSync(join(target, SCRIPT))).toBe(true);
    expect(existsSync(join(target, 'compose/docker-compose.yml'))).toBe(true);
    const shipped = await readFile(join(target, '.env'), 'utf8');
    expect(statSync(join(target, '.env')).mode & 0o777).toBe(0o600);
    for (const key of GENERATED) expect(shipped).toContain(local.match(new RegExp(`^${key}=.*$`, 'm'))![0]);
    expect(shipped).toContain(`SPACES_BUCKET=${bucket}`);
    expect(shipped).toContain('SPACES_ENDPOINT=https://nyc3.digitaloceanspaces.com');
    expect(shipped).toContain(`SPACES_ACCESS_KEY_ID=${tokens.SPACES_ACCESS_KEY_ID}`);
    expect(local).not.toContain('SPACES_ACCESS_KEY_ID');

    const calls = (await readFile(sb.log, 'utf8')).split('\n');
    for (const value of Object.values(tokens)) expect(calls.join('\n'), 'no secret on a command line').not.toContain(value);
    const firstIndex = (prefix: string) => calls.findIndex((l) => l.startsWith(prefix));
    const order = [
      'npm run synth',
      'terraform -chdir=terraform/cdktf.out/stacks/droplet init -input=false',
      'terraform -chdir=terraform/cdktf.out/stacks/droplet apply -auto-approve -input=false',
      'scp ',
      'docker compose --env-file .env -f compose/docker-compose.yml --profile core --profile observability up -d --build',
      'docker compose --env-file .env -f compose/docker-compose.yml --profile backup build backup',
      'docker inspect',
      'curl ',
    ].map(firstIndex);
    expect(
      order.every((i) => i >= 0),
      calls.join('\n'),
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(calls).toContain('  env TF_VAR_admin_ip=203.0.113.7');
    expect(calls).toContain(`  env TF_VAR_domain=${domain}`);
    expect(calls).toContain('  env DIGITALOCEAN_TOKEN present');
    expect(calls).toContain(`  cwd ${target}`);
    // Two polls saw "starting", the third saw every container healthy.
    expect(calls.filter((l) => l.startsWith('docker inspect'))).toHaveLength(3);
    expect(calls).toContain(`curl -fsS --max-time 10 --resolve ${domain}:443:127.0.0.1 https://${domain}/health`);
    const stage = calls.find((l) => l.includes(' rm -rf /tmp/agentic-mesh-deploy.'))!.split(' rm -rf ')[1]!;
    expect(existsSync(stage)).toBe(false);
  });
});

describe('scripts/deploy/remote.sh (runs on the droplet)', () => {
  async function bundle(sb: Sandbox, files: Record<string, string>): Promise<string> {
    const src = join(sb.dir, `src-${randomBytes(3).toString('hex')}`);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(src, path)), { recursive: true });
      await writeFile(join(src, path), content);
    }
    git(src, sb.home, 'init', '-q');
    git(src, sb.home, 'add', '.');
    git(src, sb.home, 'commit', '-q', '-m', 'bundle');
    const out = join(sb.dir, `bundle-${randomBytes(3).toString('hex')}.tar.gz`);
    git(src, sb.home, 'archive', '--format=tar.gz', '-o', out, 'HEAD');
    return out;
  }

  function remote(args: string[], input?: string) {
    const r = spawnSync(BASH, [REMOTE, ...args], { encoding: 'utf8', input, timeout: 20_000 });
    if (r.error) throw r.error;
    return r;
  }

  it('install unpacks in place, drops files that left the repository, keeps runtime data and installs .env 0600', async () => {
    const sb = await sandbox();
    const target = join(sb.dir, 'opt-agentic-mesh');
    const v1 = await bundle(sb, {
      'compose/docker-compose.yml': 'v1\n',
      'monitoring/prometheus.yml': 'scrape: v1\n',
      'old/gone.txt': 'old\n',
    });
    const env1 = join(sb.dir, 'env1');
    await writeFile(env1, 'ADMIN_API_KEY=first\n');
    let r = remote(['install', v1, env1, target]);
    expect(r.status, r.stderr).toBe(0);
    const inode = statSync(join(target, 'monitoring/prometheus.yml')).ino;
    await mkdir(join(target, '.data'));
    await writeFile(join(target, '.data/state'), 'kept');

    const v2 = await bundle(sb, { 'compose/docker-compose.yml': 'v2\n', 'monitoring/prometheus.yml': 'scrape: v2\n' });
    const env2 = join(sb.dir, 'env2');
    await writeFile(env2, 'ADMIN_API_KEY=second\n');
    r = remote(['install', v2, env2, target]);
    expect(r.status, r.stderr).toBe(0);

    expect(await readFile(join(target, 'monitoring/prometheus.yml'), 'utf8')).toBe('scrape: v2\n');
    // Same inode: a container that bind-mounted the file sees the new content on restart.
    expect(statSync(join(target, 'monitoring/prometheus.yml')).ino).toBe(inode);
    expect(existsSync(join(target, 'old'))).toBe(false);
    expect(await readFile(join(target, '.data/state'), 'utf8')).toBe('kept');
    expect(await readFile(join(target, '.env'), 'utf8')).toBe('ADMIN_API_KEY=second\n');
    expect(statSync(join(target, '.env')).mode & 0o777).toBe(0o600);
    expect(existsSync(env2)).toBe(false);
  });

  it('classify: ready means healthy, running without a healthcheck, or a one-shot that exited 0', () => {
    const ready = remote(
      ['classify'],
      '/compose-orchestrator-1|running|healthy|0\n/compose-consul-1|running|none|0\n/compose-migrate-1|exited|none|0\n',
    );
    expect(ready.status).toBe(0);
    expect(ready.stdout).toBe('');

    const notReady = remote(
      ['classify'],
      '/compose-orchestrator-1|running|starting|0\n/compose-grafana-1|running|unhealthy|0\n/compose-caddy-1|exited|none|1\n/compose-redis-1|restarting|none|1\n/compose-postgres-1|running|healthy|0\n',
    );
    expect(notReady.status).toBe(1);
    expect(notReady.stdout.trim().split('\n')).toEqual([
      'compose-orchestrator-1 is running (starting)',
      'compose-grafana-1 is running (unhealthy)',
      'compose-caddy-1 exited with code 1',
      'compose-redis-1 is restarting (none)',
    ]);

    const none = remote(['classify'], '');
    expect(none.status).toBe(1);
    expect(none.stdout).toContain('no containers yet');
  });
});

describe('shell scripts', () => {
  it('every script in scripts/ passes shellcheck', () => {
    const scripts: string[] = [];
    const walk = (d: string) => {
      for (const entry of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (entry.name.endsWith('.sh')) scripts.push(relative(ROOT, p));
      }
    };
    walk(join(ROOT, 'scripts'));
    expect(scripts).toContain(SCRIPT);
    const r = spawnSync('shellcheck', ['--external-sources', ...scripts], { cwd: ROOT, encoding: 'utf8' });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new Error("shellcheck is not installed: install Debian's shellcheck package (apt-get install shellcheck)");
    }
    expect(r.stdout + r.stderr, `shellcheck ${scripts.join(' ')}`).toBe('');
    expect(r.status).toBe(0);
  });

  it('the deploy scripts are executable', () => {
    for (const path of [SCRIPT, 'scripts/deploy/remote.sh']) {
      expect(statSync(join(ROOT, path)).mode & 0o111, path).not.toBe(0);
    }
  });
});
