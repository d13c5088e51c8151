// scripts/deploy_to_do.sh end to end against a local "droplet" (tests/standins/droplet: sshd,
// cloud-init and a Docker engine in a container): real ssh and scp with a key made here, the real
// synth, the real cloud-init running terraform/cloud-init.yaml, the platform's images built from the
// shipped bundle and started on the droplet by the script's own commands. Only DigitalOcean's API
// is a double (terraform, in tests/doubles/terraform-droplet.ts): it seeds the droplet with the
// synthesized user_data and answers with its address. A second run is the upgrade: the data must
// still be there.
//
// The deploy runs with --local-build: the images are built on this machine from the bundle and sent
// with docker save | ssh docker load, a path a user takes for a small droplet. Building on the
// droplet instead (the default, `up --build` there) took ~14 minutes of this test on a busy
// machine, with an empty build cache on every run; the same compose/Dockerfile build through
// Compose is what tests/docker/stack.test.ts runs, and its layer cache makes the build here seconds.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poll } from '../helpers/poll.ts';
import { DOMAIN } from './caddy-https.ts';
import { buildDropletImages, Droplet, NODE_STANDIN, repo, requireEngineAndImages, runDeploy, type ScriptRun } from './droplet-harness.ts';

const DESCRIPTION = 'Build feature slugify utility AND deploy infrastructure for a redis cache then document it';
// Under vitest.docker.config.ts's 20-minute test timeout; a cold build cache (no stack test before)
// makes the first run's local build most of the time.
const DEPLOY_TIMEOUT_MS = 18 * 60_000;

describe('scripts/deploy_to_do.sh against a local droplet', () => {
  const droplet = new Droplet();
  let dir = '';
  let env: Record<string, string> = {};
  let caBundle = '';
  const timings: Record<string, number> = {};

  async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      timings[label] = Math.round((performance.now() - start) / 1000);
    }
  }

  beforeAll(async () => {
    await requireEngineAndImages();
    await timed('build droplet images', buildDropletImages);
    dir = await mkdtemp(join(tmpdir(), 'agentic-mesh-deploy-'));
    const home = join(dir, 'home');
    const bin = join(dir, 'bin');
    await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    await mkdir(bin);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'deploy-test', '-f', join(home, '.ssh/id_ed25519')]);
    await timed('start droplet', () => droplet.start());
    await timed('load images', () => droplet.loadImages());
    caBundle = join(dir, 'caddy-root.crt');
    env = {
      ...(await droplet.writeTerraformDouble(bin, join(dir, 'terraform-double-state.json'))),
      PATH: `${bin}:${process.env.PATH}`,
      HOME: home,
      // A fresh known_hosts: the script's accept-new meets the droplet's host key once. Not
      // through HOME: ssh reads ~/.ssh from the passwd entry, so the machine's own known_hosts
      // would keep an earlier droplet's key for a port Docker hands out again.
      SSH_KNOWN_HOSTS: join(home, '.ssh/known_hosts'),
      DIGITALOCEAN_TOKEN: `dop_v1_${randomBytes(32).toString('hex')}`,
      SPACES_ACCESS_KEY_ID: `DO00${randomBytes(8).toString('hex').toUpperCase()}`,
      SPACES_SECRET_ACCESS_KEY: randomBytes(24).toString('base64url'),
      ADMIN_IP: '127.0.0.1',
      DOMAIN,
      // Created by the first run from .env.example, as on a user's first deploy.
      ENV_FILE: join(dir, 'deploy.env'),
      SSH_PORT: String(droplet.sshPort),
      HTTPS_PORT: String(droplet.httpsPort),
      // curl's own variable: the script's final health check trusts Caddy's internal CA, which
      // the test copies out of the droplet once Caddy has made it (DOMAIN has no public certificate).
      CURL_CA_BUNDLE: caBundle,
      LOCAL_BUILD: '1',
      // The base image the build starts from: nothing can be pulled here.
      NODE_IMAGE: NODE_STANDIN,
      // The legacy builder: BuildKit would pull its frontend.
      DOCKER_BUILDKIT: '0',
      WAIT_INTERVAL_S: '5',
      HEALTH_ATTEMPTS: '120',
    };
  });

  afterAll(async () => {
    console.log(`deploy test timings (s): ${JSON.stringify(timings)}`);
    await droplet.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function deploy(label: string): Promise<ScriptRun> {
    shipped.push(head());
    const result = await timed(label, () =>
      runDeploy(
        env,
        async () => {
          const ca = await droplet.caddyRoot();
          if (ca) await writeFile(caBundle, ca);
        },
        DEPLOY_TIMEOUT_MS,
      ),
    );
    if (result.code !== 0) console.error(`${label}:\n${result.output}\n--- droplet:\n${await droplet.logs()}`);
    return result;
  }

  function ssh(command: string): string {
    return execFileSync(
      'ssh',
      [
        '-p',
        String(droplet.sshPort),
        '-i',
        join(env.HOME!, '.ssh/id_ed25519'),
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${env.SSH_KNOWN_HOSTS!}`,
        'root@127.0.0.1',
        command,
      ],
      { encoding: 'utf8', env, timeout: 60_000 },
    );
  }

  const IMAGES = ['agentic-mesh:local', 'agentic-mesh:local-backup'];
  /** The images were sent, not built there: the droplet has them with this machine's ids. */
  function expectImagesSent(): void {
    for (const image of IMAGES) {
      const local = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' });
      expect(ssh(`docker image inspect -f '{{.Id}}' ${image}`), image).toBe(local);
    }
  }
  const head = () => execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
  const shipped: string[] = [];

  let adminKey = '';
  let userKey = '';
  let taskId = '';

  it('provisions the droplet, ships the tree, starts the stack, waits for it and prints the URLs', async () => {
    const first = await deploy('first deploy');
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain('Agentic Mesh is up.');
    expect(first.output).toContain(`API           https://${DOMAIN}`);
    expect(first.output).toContain(`SSH           ssh -p ${droplet.sshPort} root@127.0.0.1`);
    expect(first.output).toMatch(/remote: every container is ready/);
    expect(first.output).not.toContain(env.DIGITALOCEAN_TOKEN);
    expectImagesSent();
    expect(ssh('grep ^NODE_IMAGE= /opt/agentic-mesh/.env')).toBe(`NODE_IMAGE=${NODE_STANDIN}\n`);

    // What the deploy relies on cloud-init for, done by terraform/cloud-init.yaml itself.
    expect(ssh('cloud-init status')).toContain('status: done');
    expect(ssh('stat -c %a /opt/agentic-mesh /opt/agentic-mesh/.env')).toBe('750\n600\n');
    expect(ssh('cat /etc/systemd/system/agentic-mesh-backup.timer')).toContain('OnCalendar=*-*-* 02:00:00 UTC');
    const enabled = ssh('cat /var/lib/systemctl-standin/enabled').split('\n');
    expect(enabled).toEqual(expect.arrayContaining(['docker.service', 'agentic-mesh.service', 'agentic-mesh-backup.timer']));
  });

  it("runs a workflow through the droplet's Caddy over HTTPS with a key made by the admin route", async () => {
    adminKey = /^ADMIN_API_KEY=(\S+)$/m.exec(await readFile(env.ENV_FILE!, 'utf8'))?.[1] ?? '';
    expect(adminKey).toMatch(/^[0-9a-f]{64}$/);
    await droplet.trust(await readFile(caBundle, 'utf8'));
    expect((await droplet.json('/tasks')).status).toBe(401);
    const created = await droplet.json<{ key: string }>('/admin/api-keys', {
      method: 'POST',
      key: adminKey,
      body: JSON.stringify({ name: 'deploy-test', scopes: ['submit', 'read'] }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    userKey = created.body.key;
    const submitted = await droplet.json<{ task_id: string }>('/orchestrate', {
      method: 'POST',
      key: userKey,
      body: JSON.stringify({ description: DESCRIPTION }),
    });
    expect([200, 202]).toContain(submitted.status);
    taskId = submitted.body.task_id;
    const finished = await poll(
      async () => {
        const r = await droplet.json<{ status: string }>(`/tasks/${taskId}`, { key: userKey });
        return ['succeeded', 'failed', 'cancelled'].includes(r.body.status) ? r.body.status : undefined;
      },
      { timeoutMs: 180_000, label: 'the workflow finished on the droplet', intervalMs: 1000 },
    );
    expect(finished).toBe('succeeded');
  });

  it('runs again as an upgrade, and the workflow and the API key are still there', async () => {
    expect(taskId, 'the workflow of the previous test').not.toBe('');

    const second = await deploy('upgrade');
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain(`using ${env.ENV_FILE} (DOMAIN=${DOMAIN})`);
    expect(second.output).toContain('No changes.');
    expectImagesSent();
    // The same commit builds the same runtime image (the build cache), which the droplet already
    // has and is not sent again. Other commits may land in this checkout between the two runs (on a
    // developer's machine); then the new images are sent, as checked just above. Not the backup
    // image: the legacy builder never caches the backup stage's `ENTRYPOINT []` (it clears an
    // inherited entrypoint), so every legacy build of that target has a new id and is sent again.
    if (shipped[0] === shipped[1]) expect(second.output).toContain('agentic-mesh:local: the droplet already has this build');
    expect(second.output).toContain('Agentic Mesh is up.');

    // Same key, same workflow, after the upgrade recreated what changed.
    await droplet.trust(await readFile(caBundle, 'utf8'));
    const after = await droplet.json<{ status: string; description: string }>(`/tasks/${taskId}`, { key: userKey });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ status: 'succeeded', description: DESCRIPTION });
    const keys = await droplet.json<{ keys?: { name: string }[] } | { name: string }[]>('/admin/api-keys', { key: adminKey });
    expect(JSON.stringify(keys.body)).toContain('"deploy-test"');
  });
});
