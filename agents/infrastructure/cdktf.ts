// Writes the JSON that `cdktf synth` produces for a stack holding one DigitalOcean droplet, its
// firewall and its SSH keys, so it can be applied with plain `terraform apply` from the stack
// folder. Values are written as given; cdktf-checks judges them.
import { toYaml } from './compose.ts';

export interface DropletInput {
  name?: string;
  size?: string;
  region?: string;
  image?: string;
  ssh_keys?: string[];
  admin_ip?: string;
}

export interface TerraformRule {
  protocol: string;
  port_range?: string;
  source_addresses?: string[];
  destination_addresses?: string[];
}

type Metadata = { '//': { metadata: { path: string; uniqueId: string } } };
export type TerraformResource = Record<string, unknown> & Metadata;

export interface TerraformStack {
  '//': { metadata: { backend: string; stackName: string; version: string }; outputs: Record<string, Record<string, string>> };
  terraform: { required_providers: Record<string, { source: string; version: string }>; backend: { local: { path: string } } };
  provider: Record<string, Array<Record<string, unknown>>>;
  resource: Record<string, Record<string, TerraformResource>>;
  output: Record<string, { value: string; description?: string }>;
}

export const dropletDefaults = { size: 's-1vcpu-1gb', region: 'nyc3', image: 'ubuntu-24-04-x64' } as const;
export const CDKTF_VERSION = '0.20.11';

const publicKeyRe =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) /;

/** A Terraform/CDKTF logical id: letters, digits, "_" and "-", not starting with a digit. */
export function logicalId(value: string): string {
  const id = value.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^[^A-Za-z_]+/, '');
  return id || 'droplet';
}

/** Terraform reads `${` in any string as interpolation; text meant literally must escape it. */
export function escapeInterpolation(text: string): string {
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

const meta = (stack: string, id: string): Metadata => ({ '//': { metadata: { path: `${stack}/${id}`, uniqueId: id } } });

export interface StackOptions {
  stackName: string;
  /** Cloud-init for the droplet, e.g. to start the compose service on boot. */
  userData?: string;
  tags?: string[];
}

export function buildStack(droplet: DropletInput, options: StackOptions): TerraformStack {
  const stack = options.stackName;
  const name = droplet.name ?? 'app-server';
  const id = logicalId(name);
  const resource: TerraformStack['resource'] = {};

  const keyRefs: string[] = [];
  const keyResources: Record<string, TerraformResource> = {};
  (droplet.ssh_keys ?? []).forEach((key, index) => {
    if (!publicKeyRe.test(key)) {
      // Fingerprints and numeric ids name keys already in the account.
      keyRefs.push(key);
      return;
    }
    const keyId = `${id}-ssh-key-${index + 1}`;
    const comment = key.trim().split(/\s+/)[2];
    keyResources[keyId] = { name: comment ?? `${name}-key-${index + 1}`, public_key: key.trim(), ...meta(stack, keyId) };
    keyRefs.push(`\${digitalocean_ssh_key.${keyId}.fingerprint}`);
  });
  if (Object.keys(keyResources).length > 0) resource.digitalocean_ssh_key = keyResources;

  resource.digitalocean_droplet = {
    [id]: {
      name,
      size: droplet.size ?? dropletDefaults.size,
      region: droplet.region ?? dropletDefaults.region,
      image: droplet.image ?? dropletDefaults.image,
      ssh_keys: keyRefs,
      monitoring: true,
      ipv6: true,
      ...(options.tags && options.tags.length > 0 ? { tags: options.tags } : {}),
      ...(options.userData ? { user_data: escapeInterpolation(options.userData) } : {}),
      ...meta(stack, id),
    },
  };

  const everywhere = ['0.0.0.0/0', '::/0'];
  const inbound: TerraformRule[] = [];
  // SSH is opened to the admin address only; with none given it stays closed rather than public.
  if (droplet.admin_ip !== undefined) inbound.push({ protocol: 'tcp', port_range: '22', source_addresses: [asCidr(droplet.admin_ip)] });
  inbound.push(
    { protocol: 'tcp', port_range: '80', source_addresses: everywhere },
    { protocol: 'tcp', port_range: '443', source_addresses: everywhere },
  );
  const firewallId = `${id}-firewall`;
  resource.digitalocean_firewall = {
    [firewallId]: {
      name: `${name}-firewall`,
      droplet_ids: [`\${digitalocean_droplet.${id}.id}`],
      inbound_rule: inbound,
      outbound_rule: [
        { protocol: 'tcp', port_range: '1-65535', destination_addresses: everywhere },
        { protocol: 'udp', port_range: '1-65535', destination_addresses: everywhere },
        { protocol: 'icmp', destination_addresses: everywhere },
      ] satisfies TerraformRule[],
      ...meta(stack, firewallId),
    },
  };

  const output: TerraformStack['output'] = {
    droplet_ipv4: { value: `\${digitalocean_droplet.${id}.ipv4_address}`, description: `Public IPv4 address of ${name}` },
    droplet_id: { value: `\${digitalocean_droplet.${id}.id}` },
  };
  return {
    '//': {
      metadata: { backend: 'local', stackName: stack, version: CDKTF_VERSION },
      outputs: { [stack]: Object.fromEntries(Object.keys(output).map((k) => [k, k])) },
    },
    terraform: {
      required_providers: { digitalocean: { source: 'digitalocean/digitalocean', version: '~> 2.0' } },
      backend: { local: { path: `terraform.${stack}.tfstate` } },
    },
    // The provider reads DIGITALOCEAN_TOKEN from the environment, so no secret is written here.
    provider: { digitalocean: [{}] },
    resource,
    output,
  };
}

/** A bare address means that one host: /32 for IPv4, /128 for IPv6. */
export function asCidr(address: string): string {
  if (address.includes('/')) return address;
  return address.includes(':') ? `${address}/128` : `${address}/32`;
}

/** Cloud-init that installs Docker and starts the compose file on first boot (Ubuntu images). */
export function cloudInitForCompose(project: string, composeYaml: string): string {
  const dir = `/opt/${project}`;
  const config = {
    package_update: true,
    packages: ['docker.io', 'docker-compose-v2'],
    write_files: [{ path: `${dir}/compose.yml`, permissions: '0644', content: composeYaml }],
    runcmd: [
      ['systemctl', 'enable', '--now', 'docker'],
      ['docker', 'compose', '--project-directory', dir, '-f', `${dir}/compose.yml`, 'up', '-d'],
    ],
  };
  return `#cloud-config\n${toYaml(config)}`;
}
