import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runTool, type ToolResult } from './cli-tools.ts';

// `docker-compose config` (Debian's docker-compose 1.29) on the stack's files, as the droplet runs
// them: from the repository root, with an env file.

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | null>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
  ports?: Array<string | { target: number; published?: number | string; host_ip?: string; protocol?: string }>;
  volumes?: Array<string | { type: string; source?: string; target: string; read_only?: boolean }>;
  profiles?: string[];
  restart?: string;
  networks?: Record<string, { ipv4_address?: string } | null>;
}

export interface ComposeConfig {
  services: Record<string, ComposeService>;
  volumes?: Record<string, { name?: string } | null>;
}

export const requiredSecrets = [
  'POSTGRES_PASSWORD',
  'REDIS_PASSWORD',
  'ADMIN_API_KEY',
  'INTERNAL_TOKEN',
  'GRAFANA_ADMIN_PASSWORD',
] as const;

/** .env.example as an operator fills it: the generated secrets and a domain. */
export async function filledEnv(root: string, overrides: Record<string, string> = {}): Promise<string> {
  const values: Record<string, string> = { DOMAIN: 'mesh.example.test', ACME_EMAIL: 'ops@example.test' };
  for (const name of requiredSecrets) values[name] = randomBytes(32).toString('hex');
  Object.assign(values, overrides);
  const example = await readFile(join(root, '.env.example'), 'utf8');
  return example.replace(/^([A-Z][A-Z0-9_]*)=.*$/gm, (line, name: string) => (name in values ? `${name}=${values[name]}` : line));
}

export async function composeConfig(root: string, files: string[], envText: string, profiles: string[] = []): Promise<ToolResult> {
  const dir = await mkdtemp(join(tmpdir(), 'compose-config-'));
  try {
    const envFile = join(dir, '.env');
    await writeFile(envFile, envText);
    const args = ['--env-file', envFile, ...files.flatMap((f) => ['-f', f]), ...profiles.flatMap((p) => ['--profile', p]), 'config'];
    // Only the env file speaks: a variable of the machine running the tests must not fill a gap.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
    return await runTool('docker-compose', args, { cwd: root, env, debianPackage: 'docker-compose' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function parseConfig(result: ToolResult): ComposeConfig {
  if (result.code !== 0) throw new Error(`docker-compose config failed (${result.code}): ${result.stderr}`);
  return parse(result.stdout) as ComposeConfig;
}

export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
  /** A named volume, not a path on the host. */
  named: boolean;
}

export function mounts(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string')
      return { source: v.source ?? '', target: v.target, readOnly: Boolean(v.read_only), named: v.type === 'volume' };
    const [source = '', target = '', mode = 'rw'] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro'), named: !source.startsWith('/') && !source.startsWith('.') };
  });
}

export interface Published {
  hostIp: string;
  hostPort: string;
  containerPort: string;
}

export function published(service: ComposeService): Published[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string')
      return { hostIp: p.host_ip ?? '0.0.0.0', hostPort: String(p.published ?? ''), containerPort: String(p.target) };
    const parts = p.replace(/\/(tcp|udp)$/, '').split(':');
    if (parts.length === 3) return { hostIp: parts[0]!, hostPort: parts[1]!, containerPort: parts[2]! };
    if (parts.length === 2) return { hostIp: '0.0.0.0', hostPort: parts[0]!, containerPort: parts[1]! };
    return { hostIp: '0.0.0.0', hostPort: '', containerPort: parts[0]! };
  });
}

export function args(value: string[] | string | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : value;
}

export function dependencies(service: ComposeService): Record<string, { condition?: string }> {
  const d = service.depends_on ?? {};
  return Array.isArray(d) ? Object.fromEntries(d.map((name) => [name, {}])) : d;
}
