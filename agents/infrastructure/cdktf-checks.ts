// Checks a synthesized stack for what `terraform validate` cannot see without the provider, or
// only sees at apply time against the DigitalOcean API: slug and region syntax, CIDRs, port
// ranges, SSH open to the world, malformed public keys, and references to resources that do not
// exist.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { TerraformRule, TerraformStack } from './cdktf.ts';

export interface StackCheckResult {
  problems: string[];
  warnings: string[];
  /** MD5 fingerprints of the public keys, as DigitalOcean lists them. */
  keyFingerprints: Record<string, string>;
}

const sizeRe =
  /^(?:s-\d+vcpu-\d+(?:mb|gb)(?:-\d+gb)?(?:-(?:intel|amd))?|c2?-\d+(?:vcpu-\d+gb)?(?:-intel)?|(?:g|gd|m|m3|m6|so|so1_5)-\d+vcpu-\d+gb(?:-intel)?|gpu-[a-z0-9]+(?:-[a-z0-9]+)*)$/;
const regionRe = /^[a-z]{3}\d$/;
const knownRegions = new Set([
  'nyc1',
  'nyc2',
  'nyc3',
  'sfo1',
  'sfo2',
  'sfo3',
  'ams2',
  'ams3',
  'sgp1',
  'lon1',
  'fra1',
  'tor1',
  'blr1',
  'syd1',
  'atl1',
]);
const imageRe = /^(?:[a-z0-9]+(?:[-.][a-z0-9]+)*|\d+)$/;
const hostnameRe = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$/;
const fingerprintRe = /^(?:[0-9a-f]{2}:){15}[0-9a-f]{2}$/;
const providerSourceRe = /^(?:[a-z0-9.-]+\/)?[a-z0-9-]+\/[a-z0-9-]+$/;

const attributes: Record<string, Set<string>> = {
  digitalocean_droplet: new Set([
    'id',
    'urn',
    'name',
    'ipv4_address',
    'ipv4_address_private',
    'ipv6_address',
    'status',
    'region',
    'size',
    'image',
    'vcpus',
    'memory',
    'disk',
    'price_hourly',
    'price_monthly',
    'created_at',
  ]),
  digitalocean_ssh_key: new Set(['id', 'fingerprint', 'name', 'public_key']),
  digitalocean_firewall: new Set(['id', 'name', 'status', 'created_at']),
};

/** Why `value` is not an IPv4/IPv6 address or CIDR block, or undefined when it is one. */
export function cidrProblem(value: string): string | undefined {
  const [address, prefix, ...extra] = value.split('/');
  const version = isIP(address);
  if (extra.length > 0 || version === 0) return `"${value}" is not an IP address or CIDR block`;
  if (prefix === undefined) return undefined;
  const max = version === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${value}" has prefix /${prefix}, outside 0-${max}`;
  if (version === 4) {
    const bits = address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
    const hostBits = 32n - BigInt(prefix);
    if ((bits & ((1n << hostBits) - 1n)) !== 0n)
      return `"${value}" has host bits set; the network is ${networkOf(bits, Number(prefix))}/${prefix}`;
  }
  return undefined;
}

function networkOf(bits: bigint, prefix: number): string {
  const masked = (bits >> BigInt(32 - prefix)) << BigInt(32 - prefix);
  return [24n, 16n, 8n, 0n].map((shift) => String((masked >> shift) & 255n)).join('.');
}

/** Checks an OpenSSH public key line and returns its MD5 fingerprint, or a problem. */
export function publicKeyFingerprint(line: string): { fingerprint?: string; problem?: string } {
  const [type, body] = line.trim().split(/\s+/);
  if (!body || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return { problem: `public key of type ${type} has no base64 body` };
  const blob = Buffer.from(body, 'base64');
  // The blob starts with its own key type as a length-prefixed string; a pasted key that was cut
  // or mixed up fails here rather than at the DigitalOcean API.
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const inner = length > 0 && length + 4 <= blob.length ? blob.subarray(4, 4 + length).toString('latin1') : '';
  if (inner !== type) return { problem: `public key says ${type} but its body encodes ${inner ? `"${inner}"` : 'no key type'}` };
  const fingerprint = createHash('md5')
    .update(blob)
    .digest('hex')
    .replace(/(..)(?!$)/g, '$1:');
  return { fingerprint };
}

function portRangeProblem(range: string): string | undefined {
  const match = /^(\d+)(?:-(\d+))?$/.exec(range);
  if (!match) return `port_range "${range}" is not N or N-M`;
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  if (low < 1 || high > 65535) return `port_range "${range}" is outside 1-65535`;
  if (low > high) return `port_range "${range}" starts above where it ends`;
  return undefined;
}

function* strings(value: unknown, path: string): Generator<[string, string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value)) for (const [i, item] of value.entries()) yield* strings(item, `${path}[${i}]`);
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) if (k !== '//') yield* strings(v, path ? `${path}.${k}` : k);
}

const traversalRe = /^\s*([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)\.([a-z_][a-z0-9_]*)\s*$/;

/** Every `${type.name.attr}` in the stack, resolved or reported. `$${` is Terraform's literal escape. */
function checkReferences(stack: TerraformStack, problems: string[]): void {
  for (const [path, text] of strings({ resource: stack.resource, output: stack.output }, '')) {
    for (const match of text.matchAll(/(\$?)\$\{([^}]*)\}/g)) {
      if (match[1] === '$') continue;
      const ref = traversalRe.exec(match[2]);
      if (!ref) {
        problems.push(`${path}: cannot resolve expression "\${${match[2]}}"`);
        continue;
      }
      const [, type, name, attr] = ref;
      if (!stack.resource[type]?.[name]) problems.push(`${path}: references ${type}.${name}, which is not defined in the stack`);
      else if (attributes[type] && !attributes[type].has(attr)) problems.push(`${path}: ${type} has no attribute "${attr}"`);
    }
  }
}

function checkRules(
  where: string,
  rules: TerraformRule[],
  direction: 'source_addresses' | 'destination_addresses',
  problems: string[],
): void {
  for (const [i, rule] of rules.entries()) {
    const at = `${where}[${i}]`;
    if (!['tcp', 'udp', 'icmp'].includes(rule.protocol)) problems.push(`${at}: protocol "${rule.protocol}" must be tcp, udp or icmp`);
    if (rule.protocol === 'icmp' && rule.port_range !== undefined) problems.push(`${at}: icmp rules take no port_range`);
    if (rule.protocol !== 'icmp') {
      const p = rule.port_range === undefined ? 'has no port_range' : portRangeProblem(rule.port_range);
      if (p) problems.push(`${at}: ${p}`);
    }
    const addresses = rule[direction] ?? [];
    if (addresses.length === 0) problems.push(`${at}: no ${direction}`);
    for (const address of addresses) {
      const p = cidrProblem(address);
      if (p) problems.push(`${at}: ${p}`);
    }
    const [low, high = low] = (rule.port_range ?? '').split('-').map(Number);
    const coversSsh = rule.protocol === 'tcp' && low <= 22 && 22 <= high;
    if (direction === 'source_addresses' && coversSsh && addresses.some((a) => a.endsWith('/0'))) {
      problems.push(`${at}: opens SSH (22) to the whole internet; allow only the admin address`);
    }
  }
}

export function checkStack(stack: TerraformStack): StackCheckResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const keyFingerprints: Record<string, string> = {};

  const provider = stack.terraform.required_providers.digitalocean;
  if (!provider) problems.push('terraform.required_providers has no digitalocean entry');
  else if (!providerSourceRe.test(provider.source)) problems.push(`provider source "${provider.source}" is not [host/]namespace/type`);
  if (!stack.provider.digitalocean) problems.push('no digitalocean provider block');

  for (const [id, key] of Object.entries(stack.resource.digitalocean_ssh_key ?? {})) {
    const result = publicKeyFingerprint(String(key.public_key));
    if (result.problem) problems.push(`digitalocean_ssh_key.${id}: ${result.problem}`);
    else if (result.fingerprint) keyFingerprints[id] = result.fingerprint;
  }

  for (const [id, droplet] of Object.entries(stack.resource.digitalocean_droplet ?? {})) {
    const where = `digitalocean_droplet.${id}`;
    const { name, size, region, image } = droplet as Record<string, string>;
    if (!hostnameRe.test(name)) problems.push(`${where}: name "${name}" must be a hostname (letters, digits, "." and "-")`);
    if (!sizeRe.test(size)) problems.push(`${where}: size "${size}" is not a DigitalOcean size slug like s-1vcpu-1gb`);
    if (!regionRe.test(region)) problems.push(`${where}: region "${region}" is not a region slug like nyc3`);
    else if (!knownRegions.has(region)) warnings.push(`${where}: region "${region}" is not one this agent knows; check it exists`);
    if (!imageRe.test(image)) problems.push(`${where}: image "${image}" is not an image slug like ubuntu-24-04-x64 or a numeric id`);
    if (droplet.user_data && !/^ubuntu-|^debian-/.test(image))
      warnings.push(`${where}: user_data installs Docker with apt; image "${image}" may not have it`);
    const keys = (droplet.ssh_keys ?? []) as string[];
    if (keys.length === 0) warnings.push(`${where}: no SSH keys, so DigitalOcean emails a root password instead`);
    for (const key of keys) {
      if (key.startsWith('${')) {
        if (!/^\$\{digitalocean_ssh_key\.[^.]+\.(fingerprint|id)\}$/.test(key))
          problems.push(`${where}: ssh_keys entry "${key}" must reference a digitalocean_ssh_key fingerprint or id`);
      } else if (!fingerprintRe.test(key) && !/^\d+$/.test(key)) {
        problems.push(`${where}: ssh_keys entry "${key}" is neither an MD5 fingerprint, a key id nor an OpenSSH public key`);
      }
    }
  }

  const firewalls = Object.entries(stack.resource.digitalocean_firewall ?? {});
  if (firewalls.length === 0) warnings.push('no firewall: every port the droplet listens on is public');
  for (const [id, firewall] of firewalls) {
    const where = `digitalocean_firewall.${id}`;
    if (!/^[A-Za-z0-9.-]+$/.test(String(firewall.name)))
      problems.push(`${where}: name "${String(firewall.name)}" may only hold letters, digits, "." and "-"`);
    const ids = (firewall.droplet_ids ?? []) as string[];
    if (ids.length === 0) problems.push(`${where}: applies to no droplet`);
    for (const ref of ids)
      if (!/^\$\{digitalocean_droplet\.[^.]+\.id\}$/.test(ref))
        problems.push(`${where}: droplet_ids entry "${ref}" must reference a droplet's id`);
    const inbound = (firewall.inbound_rule ?? []) as TerraformRule[];
    checkRules(`${where}.inbound_rule`, inbound, 'source_addresses', problems);
    checkRules(`${where}.outbound_rule`, (firewall.outbound_rule ?? []) as TerraformRule[], 'destination_addresses', problems);
    if (!inbound.some((r) => r.port_range === '22')) warnings.push(`${where}: SSH (22) is closed; give admin_ip to open it to one address`);
  }

  checkReferences(stack, problems);
  return { problems, warnings, keyFingerprints };
}
