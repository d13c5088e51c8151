import { Fn, LocalBackend, TerraformOutput, TerraformStack, TerraformVariable, Token, VariableType } from 'cdktf';
import type { Construct } from 'constructs';
import { DigitaloceanProvider } from '@cdktf/provider-digitalocean/lib/provider/index.js';
import { Droplet } from '@cdktf/provider-digitalocean/lib/droplet/index.js';
import { Firewall } from '@cdktf/provider-digitalocean/lib/firewall/index.js';
import { SpacesBucket } from '@cdktf/provider-digitalocean/lib/spaces-bucket/index.js';
import { SshKey } from '@cdktf/provider-digitalocean/lib/ssh-key/index.js';
import { Tag } from '@cdktf/provider-digitalocean/lib/tag/index.js';
import { renderCloudInit } from './cloud-init.ts';

export const dropletDefaults = {
  name: 'agentic-mesh',
  region: 'nyc3',
  size: 's-4vcpu-8gb',
  // DigitalOcean's Docker 1-Click (Docker CE + compose plugin on Ubuntu 24.04).
  image: 'docker-24-04',
  spacesRegion: 'nyc3',
} as const;

/** Backups are kept 7 daily / 4 weekly / 3 monthly; anything older than this is left over. */
export const BACKUP_EXPIRY_DAYS = 100;

const EVERYWHERE = ['0.0.0.0/0', '::/0'];

function stringVariable(
  scope: Construct,
  id: string,
  description: string,
  extra: { default?: string; validation?: { condition: string; errorMessage: string }[] } = {},
) {
  return new TerraformVariable(scope, id, { type: VariableType.STRING, description, nullable: false, ...extra });
}

/**
 * One droplet running the Compose stack, its firewall, SSH key and a Spaces bucket for backups.
 * The provider reads DIGITALOCEAN_TOKEN and SPACES_ACCESS_KEY_ID/SPACES_SECRET_ACCESS_KEY from the
 * environment of `terraform apply`, so no credential is ever written into the synthesized JSON.
 */
export function buildDropletStack(scope: Construct, id = 'droplet'): TerraformStack {
  const stack = new TerraformStack(scope, id);
  // Relative to the stack's folder under cdktf.out; kept outside cdktf.out so a clean synth never loses it.
  new LocalBackend(stack, { path: `../../../state/${id}.tfstate` });
  new DigitaloceanProvider(stack, 'digitalocean', {});

  const name = stringVariable(stack, 'name', 'Name of the droplet, its SSH key, tag and firewall', {
    default: dropletDefaults.name,
    validation: [
      {
        condition: '${can(regex("^[a-z][a-z0-9-]{0,40}$", var.name))}',
        errorMessage: 'name: lowercase letters, digits and "-", starting with a letter, at most 41 characters.',
      },
    ],
  });
  const region = stringVariable(stack, 'region', 'DigitalOcean region slug of the droplet', { default: dropletDefaults.region });
  const size = stringVariable(stack, 'size', 'Droplet size slug', { default: dropletDefaults.size });
  const image = stringVariable(stack, 'image', 'Droplet image slug; the Docker marketplace image has Docker and the compose plugin', {
    default: dropletDefaults.image,
  });
  const adminIp = stringVariable(
    stack,
    'admin_ip',
    'The only address (or CIDR) allowed to reach SSH and extra_inbound_ports, e.g. 203.0.113.7/32',
    {
      validation: [
        {
          condition:
            '${can(cidrhost(var.admin_ip, 0)) || can(cidrhost(format("%s/32", var.admin_ip), 0)) || can(cidrhost(format("%s/128", var.admin_ip), 0))}',
          errorMessage: 'admin_ip must be an IPv4 or IPv6 address or CIDR, e.g. 203.0.113.7 or 203.0.113.0/28.',
        },
        { condition: '${!can(regex("/0+$", var.admin_ip))}', errorMessage: 'admin_ip must not be a /0: SSH is never open to everyone.' },
      ],
    },
  );
  const sshPublicKey = stringVariable(
    stack,
    'ssh_public_key',
    'SSH public key material (the contents of ~/.ssh/id_ed25519.pub) for root on the droplet',
    {
      validation: [
        {
          condition:
            '${can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh.com|sk-ecdsa-sha2-nistp256@openssh.com) ", var.ssh_public_key))}',
          errorMessage: 'ssh_public_key must be a public key line such as "ssh-ed25519 AAAA... me@laptop".',
        },
      ],
    },
  );
  const domain = stringVariable(stack, 'domain', 'DNS name pointing at the droplet; Caddy gets its certificate for it', {
    validation: [
      {
        condition: '${can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\\\.)+[a-z]{2,}$", var.domain))}',
        errorMessage: 'domain must be a lowercase host name such as mesh.example.com, without scheme or path.',
      },
    ],
  });
  const extraInboundPorts = new TerraformVariable(stack, 'extra_inbound_ports', {
    type: VariableType.LIST_NUMBER,
    description: 'TCP ports opened to admin_ip only, in addition to 22 (admin_ip), 80 and 443 (everyone)',
    default: [],
    nullable: false,
    validation: [
      {
        condition: '${alltrue([for p in var.extra_inbound_ports : p >= 1 && p <= 65535 && floor(p) == p])}',
        errorMessage: 'extra_inbound_ports must be whole TCP port numbers between 1 and 65535.',
      },
    ],
  });
  const spacesRegion = stringVariable(stack, 'spaces_region', 'Region of the Spaces bucket for backups', {
    default: dropletDefaults.spacesRegion,
  });

  const tag = new Tag(stack, 'tag', { name: name.stringValue });

  const sshKey = new SshKey(stack, 'ssh_key', { name: name.stringValue, publicKey: sshPublicKey.stringValue });

  const droplet = new Droplet(stack, 'droplet', {
    name: name.stringValue,
    region: region.stringValue,
    size: size.stringValue,
    image: image.stringValue,
    sshKeys: [sshKey.fingerprint],
    tags: [tag.id],
    monitoring: true,
    ipv6: true,
    userData: renderCloudInit({ name: name.stringValue }),
    // A droplet holds the stack's data volumes: a new cloud-init or image slug must never replace it
    // behind the operator's back (`terraform apply -replace=...` does it on purpose).
    lifecycle: { ignoreChanges: ['user_data', 'image'] },
  });

  const firewall = new Firewall(stack, 'firewall', {
    name: name.stringValue,
    dropletIds: [Token.asNumber(droplet.id)],
    inboundRule: [
      { protocol: 'tcp', portRange: '22', sourceAddresses: [adminIp.stringValue] },
      { protocol: 'tcp', portRange: '80', sourceAddresses: EVERYWHERE },
      { protocol: 'tcp', portRange: '443', sourceAddresses: EVERYWHERE },
      // HTTP/3: Caddy serves QUIC on 443/udp.
      { protocol: 'udp', portRange: '443', sourceAddresses: EVERYWHERE },
    ],
    outboundRule: [
      { protocol: 'tcp', portRange: '1-65535', destinationAddresses: EVERYWHERE },
      { protocol: 'udp', portRange: '1-65535', destinationAddresses: EVERYWHERE },
      { protocol: 'icmp', destinationAddresses: EVERYWHERE },
    ],
  });
  // cdktf models a block list as either static rules or one dynamic block; Terraform accepts both
  // side by side, so the extra ports go in as a dynamic block next to the fixed rules.
  firewall.addOverride('dynamic.inbound_rule', {
    for_each: extraInboundPorts.listValue,
    content: { protocol: 'tcp', port_range: '${tostring(inbound_rule.value)}', source_addresses: [adminIp.stringValue] },
  });

  const bucket = new SpacesBucket(stack, 'backups', {
    // Bucket names are global across Spaces; the domain's hash keeps two deployments from colliding.
    name: `${name.stringValue}-backups-${Fn.substr(Fn.sha1(domain.stringValue), 0, 8)}`,
    region: spacesRegion.stringValue,
    acl: 'private',
    lifecycleRule: [
      {
        id: 'expire-past-retention',
        enabled: true,
        abortIncompleteMultipartUploadDays: 1,
        expiration: { days: BACKUP_EXPIRY_DAYS },
      },
    ],
  });

  const output = (outputId: string, value: string, description: string) =>
    new TerraformOutput(stack, outputId, { value, description, staticId: true });
  output('droplet_ip', droplet.ipv4Address, "Public IPv4 address of the droplet; point the domain's A record here");
  output('droplet_ipv6', droplet.ipv6Address, "Public IPv6 address of the droplet; point the domain's AAAA record here");
  output('api_url', `https://${domain.stringValue}`, 'Public URL of the orchestrator API');
  output('spaces_bucket', bucket.name, 'Spaces bucket for backups (SPACES_BUCKET)');
  output(
    'spaces_endpoint',
    `https://${spacesRegion.stringValue}.digitaloceanspaces.com`,
    'S3 endpoint of the backup bucket (SPACES_ENDPOINT)',
  );
  output('ssh_command', `ssh root@${droplet.ipv4Address}`, 'SSH into the droplet (only from admin_ip)');
  return stack;
}
