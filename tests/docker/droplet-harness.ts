// A local "droplet" for tests/docker/deploy.test.ts: the droplet stand-in image
// (tests/standins/droplet) run with its own Docker engine inside, reached over real SSH on a port
// published to 127.0.0.1, its engine given the images the stack needs with docker save | docker
// load (nothing can be pulled), and the terraform double on PATH for scripts/deploy_to_do.sh.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Agent, buildConnector, type Response } from 'undici';
import { caddyFetch, caddyJson, type CaddyRequest, DOMAIN } from './caddy-https.ts';

const run = promisify(execFile);
export const repo = resolve(import.meta.dirname, '../..');
export const DROPLET_IMAGE = 'agentic-mesh-standin/droplet:bookworm';
const DEBIAN_STANDIN = 'agentic-mesh-standin/debian:bookworm';
export const NODE_STANDIN = 'agentic-mesh-standin/node:24';
const SETUP_HINT = 'run scripts/dev/local-images.sh (it builds the stand-in images from Debian packages)';

/**
 * Images the droplet's engine gets under the name compose/docker-compose.yml uses. Grafana and
 * Prometheus get droplet-only stand-ins (their Dockerfiles say why); the others are the machine's
 * stand-ins of the same name.
 */
const DROPLET_ONLY: Record<string, { tag: string; dir: string }> = {
  'grafana/grafana:11.6.0': { tag: 'agentic-mesh-standin/droplet-grafana:11.6.0', dir: 'tests/standins/droplet/grafana' },
  'prom/prometheus:v3.5.0': { tag: 'agentic-mesh-standin/droplet-prometheus:v3.5.0', dir: 'tests/standins/droplet/prometheus' },
};

async function docker(args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await run('docker', args, {
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
  return stdout;
}

/** Third-party images named in the compose file (the platform's own are built by the deploy). */
export async function composeImages(): Promise<string[]> {
  const text = await readFile(join(repo, 'compose/docker-compose.yml'), 'utf8');
  const images = [...text.matchAll(/^\s+image:\s*(\S+)\s*$/gm)].map((m) => m[1]!).filter((image) => !image.includes('${'));
  return [...new Set(images)];
}

/** Fails (never skips) with what to run when the engine or an image is missing. */
export async function requireEngineAndImages(): Promise<void> {
  try {
    await docker(['info', '--format', '{{.ServerVersion}}'], 20_000);
  } catch (err) {
    throw new Error(`no Docker engine answers (${String(err)}): start dockerd, e.g. scripts/dev/test.sh does`, { cause: err });
  }
  const images = await composeImages();
  const needed = [DEBIAN_STANDIN, NODE_STANDIN, ...images.filter((i) => !DROPLET_ONLY[i])];
  const missing: string[] = [];
  for (const image of needed) await docker(['image', 'inspect', image], 20_000).catch(() => missing.push(image));
  if (missing.length) throw new Error(`missing image(s) ${missing.join(', ')}: ${SETUP_HINT}`);
}

/** The droplet image and its droplet-only stand-ins; the legacy builder's cache makes a rebuild a few seconds. */
export async function buildDropletImages(): Promise<void> {
  await docker(['build', '-q', '-t', DROPLET_IMAGE, join(repo, 'tests/standins/droplet')], 15 * 60_000);
  for (const { tag, dir } of Object.values(DROPLET_ONLY)) await docker(['build', '-q', '-t', tag, join(repo, dir)], 10 * 60_000);
}

export class Droplet {
  readonly name = `am-droplet-${randomBytes(4).toString('hex')}`;
  readonly volume = `${this.name}-docker`;
  sshPort = 0;
  httpsPort = 0;
  private dispatcher: Agent | undefined;

  /**
   * Not --privileged: this machine's engine cannot grant every capability (it lacks
   * CAP_SYS_RESOURCE itself), so the droplet gets all the others, no seccomp/AppArmor confinement,
   * unmasked /proc and /sys, and a private cgroup namespace (droplet-boot mounts its cgroups
   * read-write from there). The inner engine keeps its layers on a volume: overlay2 cannot stack
   * on the container's own overlay root.
   */
  async start(): Promise<void> {
    await docker(['volume', 'create', this.volume]);
    await docker([
      'run',
      '-d',
      '--name',
      this.name,
      '--hostname',
      'droplet',
      '--cap-add',
      'ALL',
      '--cap-drop',
      'SYS_RESOURCE',
      '--security-opt',
      'seccomp=unconfined',
      '--security-opt',
      'apparmor=unconfined',
      '--security-opt',
      'systempaths=unconfined',
      '--cgroupns',
      'private',
      '-v',
      `${this.volume}:/var/lib/docker`,
      '-p',
      '127.0.0.1::22',
      '-p',
      '127.0.0.1::443',
      DROPLET_IMAGE,
    ]);
    this.sshPort = await this.publishedPort(22);
    this.httpsPort = await this.publishedPort(443);
    await this.waitForInnerEngine();
  }

  private async publishedPort(port: number): Promise<number> {
    const out = await docker(['port', this.name, `${port}/tcp`]);
    const found = /127\.0\.0\.1:(\d+)/.exec(out);
    if (!found) throw new Error(`${this.name}: ${port}/tcp is not published on 127.0.0.1 (${out.trim()})`);
    return Number(found[1]);
  }

  private async waitForInnerEngine(): Promise<void> {
    for (let attempt = 1; attempt <= 60; attempt++) {
      if (
        await this.exec(['docker', 'info'], 10_000).then(
          () => true,
          () => false,
        )
      )
        return;
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`the droplet's dockerd did not start:\n${await this.logs()}`);
  }

  exec(args: string[], timeoutMs = 60_000): Promise<string> {
    return docker(['exec', this.name, ...args], timeoutMs);
  }

  async logs(): Promise<string> {
    const { stdout, stderr } = await run('docker', ['logs', '--tail', '80', this.name]).catch(
      (err: { stdout?: string; stderr?: string }) => ({
        stdout: err.stdout ?? '',
        stderr: err.stderr ?? String(err),
      }),
    );
    // sshd's own log and root's keys: what a failed ssh wait needs (docker logs has neither).
    const sshd = await this.exec(
      ['sh', '-c', 'echo "--- sshd.log"; tail -n 30 /var/log/sshd.log; echo "--- /root/.ssh"; ls -la /root/.ssh'],
      10_000,
    ).catch((err: unknown) => String(err));
    return `${stdout}${stderr}\n${sshd}`;
  }

  /**
   * What a registry would serve: every third-party image the compose file names, under that name.
   * One `docker save` of all of them, so layers they share cross once. No Node base image: the
   * test deploys with --local-build, so the droplet builds nothing.
   */
  async loadImages(): Promise<string[]> {
    const images = await composeImages();
    const sources = new Map<string, string>();
    for (const image of images) sources.set(DROPLET_ONLY[image]?.tag ?? image, image);
    await new Promise<void>((resolveLoad, rejectLoad) => {
      const save = spawn('docker', ['save', ...sources.keys()], { stdio: ['ignore', 'pipe', 'pipe'] });
      const load = spawn('docker', ['exec', '-i', this.name, 'docker', 'load', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let errors = '';
      save.stderr.on('data', (d: Buffer) => (errors += d.toString()));
      load.stderr.on('data', (d: Buffer) => (errors += d.toString()));
      save.stdout.pipe(load.stdin);
      let saved: number | null = null;
      save.on('close', (code) => (saved = code));
      load.on('close', (code) =>
        code === 0 && saved === 0 ? resolveLoad() : rejectLoad(new Error(`docker save | docker load failed: ${errors}`)),
      );
    });
    for (const [source, name] of sources) if (source !== name) await this.exec(['docker', 'tag', source, name]);
    return [...sources.values()];
  }

  /** A `terraform` on PATH that runs the terraform double against this droplet. */
  async writeTerraformDouble(binDir: string, statePath: string): Promise<Record<string, string>> {
    const path = join(binDir, 'terraform');
    await writeFile(path, `#!/bin/sh\nexec '${process.execPath}' '${join(repo, 'tests/doubles/terraform-droplet.ts')}' "$@"\n`);
    await chmod(path, 0o755);
    return { DROPLET_DOUBLE_CONTAINER: this.name, DROPLET_DOUBLE_ADDRESS: '127.0.0.1', DROPLET_DOUBLE_STATE: statePath };
  }

  /** Caddy's local root certificate, from its data volume in the droplet's engine, once Caddy has made it. */
  async caddyRoot(): Promise<string | undefined> {
    return this.exec(['cat', '/var/lib/docker/volumes/agentic-mesh-caddy-data/_data/caddy/pki/authorities/local/root.crt'], 10_000).then(
      (pem) => (pem.includes('BEGIN CERTIFICATE') ? pem : undefined),
      () => undefined,
    );
  }

  /** HTTPS to DOMAIN through the droplet's published 443, trusting Caddy's internal CA. */
  async trust(ca: string): Promise<void> {
    await this.dispatcher?.close();
    const connector = buildConnector({ ca, servername: DOMAIN });
    this.dispatcher = new Agent({
      connect: (options, callback) =>
        connector({ ...options, hostname: '127.0.0.1', port: String(this.httpsPort), servername: DOMAIN }, callback),
    });
  }

  https(path: string, init: CaddyRequest = {}): Promise<Response> {
    if (!this.dispatcher) throw new Error('trust() first');
    return caddyFetch(this.dispatcher, path, init);
  }

  json<T = Record<string, unknown>>(path: string, init: CaddyRequest = {}): Promise<{ status: number; body: T }> {
    if (!this.dispatcher) throw new Error('trust() first');
    return caddyJson<T>(this.dispatcher, path, init);
  }

  /** The container and the inner engine's volume (its images, the stack's volumes), whatever state they are in. */
  async remove(): Promise<void> {
    await this.dispatcher?.close();
    await docker(['rm', '-f', '-v', this.name], 120_000).catch((err: unknown) => console.error(String(err)));
    await docker(['volume', 'rm', '-f', this.volume], 120_000).catch((err: unknown) => console.error(String(err)));
  }
}

export interface ScriptRun {
  code: number | null;
  output: string;
}

/** Runs scripts/deploy_to_do.sh; onTick runs every second meanwhile (the test feeds it Caddy's CA). */
export function runDeploy(env: Record<string, string>, onTick: () => Promise<void>, timeoutMs: number): Promise<ScriptRun> {
  return new Promise((resolveRun, rejectRun) => {
    // Its own process group, so that a timeout stops its ssh and curl too, not only bash.
    const child = spawn('bash', [join(repo, 'scripts/deploy_to_do.sh')], {
      cwd: repo,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const killer = setTimeout(() => {
      output += `\n[killed after ${timeoutMs / 60_000} minutes]\n`;
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    }, timeoutMs);
    // The tick in flight, if any: the run resolves only after it, or a caller could read a file the
    // tick is halfway through writing (the CA bundle, truncated, trusted nothing).
    let tick: Promise<void> | undefined;
    const ticker = setInterval(() => {
      if (tick) return;
      tick = onTick()
        .catch(() => undefined)
        .finally(() => (tick = undefined));
    }, 1000);
    child.on('error', rejectRun);
    child.on('close', (code) => {
      clearTimeout(killer);
      clearInterval(ticker);
      void (tick ?? Promise.resolve()).then(() => resolveRun({ code, output }));
    });
  });
}
