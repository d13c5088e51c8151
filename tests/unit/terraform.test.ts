import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing, type TerraformStack } from 'cdktf';
import { Droplet } from '@cdktf/provider-digitalocean/lib/droplet/index.js';
import { Firewall } from '@cdktf/provider-digitalocean/lib/firewall/index.js';
import { KubernetesCluster } from '@cdktf/provider-digitalocean/lib/kubernetes-cluster/index.js';
import { SpacesBucket } from '@cdktf/provider-digitalocean/lib/spaces-bucket/index.js';
import { SshKey } from '@cdktf/provider-digitalocean/lib/ssh-key/index.js';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { BACKUP_EXPIRY_DAYS, buildDropletStack } from '../../terraform/droplet-stack.ts';
import { buildKubernetesStack } from '../../terraform/kubernetes-stack.ts';

interface Rule {
  protocol: string;
  port_range?: string;
  source_addresses?: string[];
}
interface SynthJson {
  provider: Record<string, Record<string, unknown>[]>;
  terraform: { required_providers: Record<string, { source: string; version: string }>; backend: { local: { path: string } } };
  variable: Record<string, { type: string; default?: unknown; validation?: { condition: string }[] }>;
  resource: Record<string, Record<string, Record<string, unknown>>>;
  data?: Record<string, Record<string, Record<string, unknown>>>;
  output: Record<string, { value: string; sensitive?: boolean }>;
}

// At boot: the images the deploy built start as they are, never rebuilt.
const BOOT_UP = 'docker compose --env-file .env -f compose/docker-compose.yml --profile core --profile observability up -d';
const SHARED_BACKUP = 'docker compose --env-file .env -f compose/docker-compose.yml run --rm backup';
const EVERYWHERE = ['0.0.0.0/0', '::/0'];

function synth(build: (app: ReturnType<typeof Testing.app>) => TerraformStack): { text: string; json: SynthJson } {
  const outdir = mkdtempSync(join(tmpdir(), `am-terraform-${Math.random().toString(36).slice(2, 8)}-`));
  onTestFinished(() => rmSync(outdir, { recursive: true, force: true }));
  const text = Testing.synth(build(Testing.app({ outdir })));
  return { text, json: JSON.parse(text) as SynthJson };
}

const only = <T>(byName: Record<string, T> | undefined, what: string): T => {
  const values = Object.values(byName ?? {});
  if (values.length !== 1) throw new Error(`expected exactly one ${what}, found ${values.length}`);
  return values[0]!;
};

/** Every string in the synthesized JSON, with the key path that leads to it. */
function strings(value: unknown, path = ''): [string, string][] {
  if (typeof value === 'string') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${path}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => strings(v, path ? `${path}.${k}` : k));
  return [];
}

/** Parses the [Section] key=value text of a systemd unit (keys may repeat). */
function unitFile(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = sections[header[1]!] = {};
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not a unit file line: ${line}`);
    (current[line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return sections;
}

describe('droplet stack', () => {
  it('declares the shared variables with their defaults, and requires admin_ip, ssh_public_key and domain', () => {
    const { json } = synth((app) => buildDropletStack(app));
    const v = json.variable;
    expect(Object.keys(v).sort()).toEqual([
      'admin_ip',
      'domain',
      'extra_inbound_ports',
      'image',
      'name',
      'region',
      'size',
      'spaces_region',
      'ssh_public_key',
    ]);
    expect(v.name!.default).toBe('agentic-mesh');
    expect(v.region!.default).toBe('nyc3');
    expect(v.size!.default).toBe('s-4vcpu-8gb');
    expect(v.image!.default).toBe('docker-24-04');
    expect(v.spaces_region!.default).toBe('nyc3');
    expect(v.extra_inbound_ports).toMatchObject({ type: 'list(number)', default: [] });
    for (const required of ['admin_ip', 'ssh_public_key', 'domain']) expect(v[required]).not.toHaveProperty('default');
    expect(v.admin_ip!.validation!.map((rule) => rule.condition).join(' ')).toContain('cidrhost');
  });

  it('configures the DigitalOcean provider without any credential: they come from the environment at apply time', () => {
    const { text, json } = synth((app) => buildDropletStack(app));
    expect(Testing.toHaveProvider(text, 'digitalocean')).toBe(true);
    expect(json.terraform.required_providers.digitalocean!.source).toBe('digitalocean/digitalocean');
    expect(json.terraform.required_providers.digitalocean!.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(json.provider.digitalocean).toEqual([{}]);
    // State must not land inside cdktf.out (a clean synth would lose it) nor name this machine's paths.
    expect(json.terraform.backend.local.path).toBe('../../../state/droplet.tfstate');
  });

  it('builds a monitored, IPv6, tagged droplet with the SSH key from the variable', () => {
    const { text, json } = synth((app) => buildDropletStack(app));
    expect(
      Testing.toHaveResourceWithProperties(text, Droplet.tfResourceType, {
        name: '${var.name}',
        region: '${var.region}',
        size: '${var.size}',
        image: '${var.image}',
        monitoring: true,
        ipv6: true,
        ssh_keys: ['${digitalocean_ssh_key.ssh_key.fingerprint}'],
        tags: ['${digitalocean_tag.tag.id}'],
      }),
    ).toBe(true);
    expect(Testing.toHaveResourceWithProperties(text, SshKey.tfResourceType, { public_key: '${var.ssh_public_key}' })).toBe(true);
    // A cloud-init edit must not silently replace the droplet that holds the data volumes.
    const droplet = only(json.resource.digitalocean_droplet, 'droplet') as { lifecycle: { ignore_changes: string[] } };
    expect(droplet.lifecycle.ignore_changes).toContain('user_data');
  });

  it('opens SSH to admin_ip only, 80 and 443 to everyone, and nothing else unless extra ports are given', () => {
    const { text, json } = synth((app) => buildDropletStack(app));
    expect(Testing.toHaveResource(text, Firewall.tfResourceType)).toBe(true);
    const firewall = only(json.resource.digitalocean_firewall, 'firewall') as {
      droplet_ids: string[];
      inbound_rule: Rule[];
      dynamic: { inbound_rule: { for_each: string; content: Rule } };
    };
    expect(firewall.droplet_ids).toEqual(['${digitalocean_droplet.droplet.id}']);

    const rules = firewall.inbound_rule;
    const ssh = rules.filter((rule) => rule.port_range === '22');
    expect(ssh).toEqual([{ protocol: 'tcp', port_range: '22', source_addresses: ['${var.admin_ip}'] }]);
    for (const port of ['80', '443']) {
      expect(rules).toContainEqual({ protocol: 'tcp', port_range: port, source_addresses: EVERYWHERE });
    }
    // With extra_inbound_ports empty the dynamic block expands to nothing, so these are all the rules.
    expect(new Set(rules.map((rule) => rule.port_range))).toEqual(new Set(['22', '80', '443']));
    for (const rule of rules) expect(rule.port_range, 'no rule spans a port range').toMatch(/^\d+$/);

    // Every extra port becomes one rule reachable from admin_ip, never from everywhere.
    expect(firewall.dynamic.inbound_rule.for_each).toBe('${var.extra_inbound_ports}');
    expect(firewall.dynamic.inbound_rule.content).toEqual({
      protocol: 'tcp',
      port_range: '${tostring(inbound_rule.value)}',
      source_addresses: ['${var.admin_ip}'],
    });
  });

  it('ships a cloud-init with the compose unit, gated on the bundle, and the 02:00 UTC backup timer', () => {
    const { json } = synth((app) => buildDropletStack(app));
    const userData = (only(json.resource.digitalocean_droplet, 'droplet') as { user_data: string }).user_data;
    expect(userData.startsWith('#cloud-config\n')).toBe(true);
    // The only interpolation is the droplet name: nothing secret, nothing left unescaped.
    expect([...new Set(userData.match(/\$\{[^}]*\}/g))]).toEqual(['${var.name}']);

    const config = parse(userData) as { write_files: { path: string; content: string }[]; runcmd: string[][] };
    const file = (path: string) => {
      const found = config.write_files.find((f) => f.path === path);
      if (!found) throw new Error(`cloud-init writes no ${path}`);
      return unitFile(found.content);
    };

    const service = file('/etc/systemd/system/agentic-mesh.service');
    expect(service.Unit!.ConditionPathExists).toEqual(['/opt/agentic-mesh/.env']);
    expect(service.Unit!.Requires).toEqual(['docker.service']);
    expect(service.Service!.WorkingDirectory).toEqual(['/opt/agentic-mesh']);
    expect(service.Service!.ExecStart).toEqual([`/usr/bin/${BOOT_UP}`]);
    expect(service.Install!.WantedBy).toEqual(['multi-user.target']);

    const timer = file('/etc/systemd/system/agentic-mesh-backup.timer');
    expect(timer.Timer!.OnCalendar).toEqual(['*-*-* 02:00:00 UTC']);
    expect(timer.Timer!.Unit).toEqual(['agentic-mesh-backup.service']);
    expect(timer.Install!.WantedBy).toEqual(['timers.target']);

    const backup = file('/etc/systemd/system/agentic-mesh-backup.service');
    expect(backup.Service!.Type).toEqual(['oneshot']);
    expect(backup.Service!.WorkingDirectory).toEqual(['/opt/agentic-mesh']);
    expect(backup.Service!.ExecStart).toEqual([`/usr/bin/${SHARED_BACKUP}`]);

    const commands = config.runcmd.map((c) => c.join(' '));
    expect(commands).toContain('mkdir -p /opt/agentic-mesh');
    expect(commands).toContain('systemctl enable agentic-mesh.service');
    expect(commands).toContain('systemctl enable --now agentic-mesh-backup.timer');
    expect(commands).toContain('systemctl enable --now unattended-upgrades.service');
    // Docker comes from the image; the fallback install must come before anything that needs it.
    expect(commands.indexOf('/usr/local/sbin/agentic-mesh-ensure-docker')).toBeLessThan(
      commands.indexOf('systemctl enable agentic-mesh.service'),
    );
    expect(config.write_files.find((f) => f.path === '/usr/local/sbin/agentic-mesh-ensure-docker')!.content).toContain('docker-compose-v2');
  });

  it('keeps backups in a private Spaces bucket whose objects expire past the longest retention', () => {
    const { text } = synth((app) => buildDropletStack(app));
    expect(BACKUP_EXPIRY_DAYS).toBeGreaterThan(3 * 31);
    expect(
      Testing.toHaveResourceWithProperties(text, SpacesBucket.tfResourceType, {
        acl: 'private',
        region: '${var.spaces_region}',
        lifecycle_rule: [{ enabled: true, expiration: { days: BACKUP_EXPIRY_DAYS } }],
      }),
    ).toBe(true);
  });

  it('outputs the droplet IP, the API URL, the bucket and the SSH command', () => {
    const { json } = synth((app) => buildDropletStack(app));
    expect(json.output.droplet_ip!.value).toBe('${digitalocean_droplet.droplet.ipv4_address}');
    expect(json.output.api_url!.value).toBe('https://${var.domain}');
    expect(json.output.spaces_bucket!.value).toBe('${digitalocean_spaces_bucket.backups.name}');
    expect(json.output.ssh_command!.value).toBe('ssh root@${digitalocean_droplet.droplet.ipv4_address}');
  });
});

describe('kubernetes stack', () => {
  it('builds a cluster with one autoscaling node pool on the newest version matching the prefix', () => {
    const { text, json } = synth((app) => buildKubernetesStack(app));
    expect(
      Testing.toHaveResourceWithProperties(text, KubernetesCluster.tfResourceType, {
        name: '${var.name}',
        region: '${var.region}',
        version: '${data.digitalocean_kubernetes_versions.versions.latest_version}',
        node_pool: { size: '${var.node_size}', auto_scale: true, min_nodes: '${var.min_nodes}', max_nodes: '${var.max_nodes}' },
      }),
    ).toBe(true);
    expect(
      Testing.toHaveDataSourceWithProperties(text, 'digitalocean_kubernetes_versions', { version_prefix: '${var.version_prefix}' }),
    ).toBe(true);
    const cluster = only(json.resource.digitalocean_kubernetes_cluster, 'cluster') as {
      tags: string[];
      node_pool: Record<string, unknown>;
    };
    expect(cluster.tags).toContain('agentic-mesh');
    // An autoscaled pool gets no fixed node_count, or every apply would fight the autoscaler.
    expect(cluster.node_pool).not.toHaveProperty('node_count');
    expect(json.variable.min_nodes!.default).toBeLessThanOrEqual(json.variable.max_nodes!.default as number);
    const lifecycle = (cluster as unknown as { lifecycle: { precondition: { condition: string }[] } }).lifecycle;
    expect(lifecycle.precondition.map((p) => p.condition)).toContain('${var.max_nodes >= var.min_nodes}');
  });

  it('outputs the cluster id and endpoint, and the kubeconfig only as a sensitive value', () => {
    const { json } = synth((app) => buildKubernetesStack(app));
    expect(json.output.cluster_id!.value).toBe('${digitalocean_kubernetes_cluster.cluster.id}');
    expect(json.output.cluster_endpoint!.value).toBe('${digitalocean_kubernetes_cluster.cluster.endpoint}');
    expect(json.output.kubeconfig).toEqual(
      expect.objectContaining({ value: '${digitalocean_kubernetes_cluster.cluster.kube_config[0].raw_config}', sensitive: true }),
    );
    expect(json.output.cluster_id!.sensitive).toBeFalsy();
  });
});

describe('both stacks', () => {
  it.each([
    ['droplet', buildDropletStack],
    ['kubernetes', buildKubernetesStack],
  ] as const)('%s: holds no credential and no secret-looking value', (_, build) => {
    const { json } = synth((app) => build(app));
    const found = strings(json);
    expect(found.length).toBeGreaterThan(20);
    for (const [path, value] of found) {
      expect(path, `${path} looks like a credential`).not.toMatch(/token|secret|password|access_?id|api_?key/i);
      // DigitalOcean tokens (dop_v1_, doo_v1_, dor_v1_), Spaces keys (DO + 18 upper-case chars) and PEM keys.
      expect(value, `${path} holds a credential`).not.toMatch(
        /\bdo[opr]_v1_[0-9a-f]{10,}|\bDO[0-9A-Z]{18}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----/,
      );
    }
    for (const name of Object.keys(json.variable)) expect(name).not.toMatch(/token|secret|password|key_id/i);
  });
});
