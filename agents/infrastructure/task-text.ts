// Reads what a planner's subtask text asks for. Every value found here is honoured as the user's
// own (and so validated like one); the catalog only fills in what the text leaves out.
import { type KnownService, knownServices } from './catalog.ts';

export interface ServiceMention {
  known: KnownService;
  /** Offset of the mention, so a "named x" or "port n" binds to the service written before it. */
  at: number;
  name?: string;
  port?: number;
}

export interface DropletHints {
  name?: string;
  size?: string;
  region?: string;
  image?: string;
  admin_ip?: string;
  ssh_keys?: string[];
}

export interface TaskRequest {
  services: ServiceMention[];
  /** A container image written out in the text ("image ghcr.io/acme/api:1.2"). */
  image?: { ref: string; at: number; name?: string; port?: number };
  env: Record<string, string>;
  replicas?: number;
  wantsCdktf: boolean;
  wantsCompose: boolean;
  droplet: DropletHints;
  allowPrivileged: boolean;
  allowHostNetwork: boolean;
  publicPorts: boolean;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function firstMention(text: string, words: string[]): number {
  let best = -1;
  for (const word of words) {
    const match = new RegExp(`(?<![\\w.-])${escapeRe(word)}(?![\\w-])`, 'i').exec(text);
    if (match && (best === -1 || match.index < best)) best = match.index;
  }
  return best;
}

const regionPrefixes = ['nyc', 'sfo', 'ams', 'sgp', 'lon', 'fra', 'tor', 'blr', 'syd', 'atl'];
const sizeShape = /^(?:s|c|c2|g|gd|m|m3|m6|so|so1_5)-[a-z0-9-]+$/;
const dockerish = /[/:@]/;

export function readTask(text: string): TaskRequest {
  const services: ServiceMention[] = [];
  for (const known of knownServices) {
    const at = firstMention(text, known.aliases);
    if (at !== -1) services.push({ known, at });
  }
  // "a cache" means redis only when no service is named outright.
  if (services.length === 0) {
    for (const known of knownServices) {
      const at = firstMention(text, known.generic);
      if (at !== -1) services.push({ known, at });
    }
  }
  services.sort((a, b) => a.at - b.at);

  const wantsCdktf =
    /\b(cdktf|terraform|droplets?|digital\s?ocean|vps|virtual machines?)\b/i.test(text) || /\bprovision\w*\b[^.]*\bservers?\b/i.test(text);
  const wantsCompose = /\b(docker[- ]?compose|compose)\b/i.test(text);

  const request: TaskRequest = {
    services,
    env: {},
    wantsCdktf,
    wantsCompose,
    droplet: {},
    allowPrivileged: /\bprivileged\b/i.test(text),
    allowHostNetwork: /\bhost network(ing)?\b|\bnetwork[_ ]mode:?\s*host\b/i.test(text),
    publicPorts: /\bpublic(ly)?\b|\bexpose[sd]?\b/i.test(text),
  };

  for (const match of text.matchAll(/\bimage\s*[:=]?\s*["'`]?([A-Za-z0-9][^\s"'`,;]*)/gi)) {
    const ref = match[1].replace(/\.$/, '');
    if (wantsCdktf && !dockerish.test(ref)) request.droplet.image = ref;
    else request.image ??= { ref, at: match.index };
  }

  // A name or port binds to the last thing mentioned before it, so "redis named cache and postgres
  // on port 5433" gives the port to postgres.
  const targets: Array<{ at: number; name?: string; port?: number }> = [...services];
  if (request.image) targets.push(request.image);
  targets.sort((a, b) => a.at - b.at);
  const ownerAt = (at: number): { name?: string; port?: number } | undefined => targets.filter((t) => t.at < at).at(-1) ?? targets[0];

  for (const match of text.matchAll(/\b(?:named|called|name it|name\s*[:=])\s*["'`]?([A-Za-z0-9][A-Za-z0-9_.-]*)/gi)) {
    const name = match[1].replace(/\.$/, '');
    const owner = ownerAt(match.index);
    if (wantsCdktf && (/droplet|server|vps/i.test(text.slice(Math.max(0, match.index - 30), match.index)) || !owner))
      request.droplet.name ??= name;
    else if (owner) owner.name ??= name;
  }
  for (const match of text.matchAll(/\bports?\s*[:=]?\s*(\d+)\b/gi)) {
    const owner = ownerAt(match.index);
    if (owner) owner.port ??= Number(match[1]);
  }
  for (const match of text.matchAll(/\b([A-Z][A-Z0-9_]*)=([^\s,;]+)/g)) request.env[match[1]] = match[2];

  const replicas = /\b(\d+)\s+replicas?\b|\breplicas?\s*[:=]?\s*(\d+)\b/i.exec(text);
  if (replicas) request.replicas = Number(replicas[1] ?? replicas[2]);

  const region = /\bregion\s*[:=]?\s*([a-z0-9-]+)/i.exec(text);
  if (region) request.droplet.region = region[1];
  const size = /\bsize\s*[:=]?\s*([a-z0-9_-]+)/i.exec(text);
  if (size) request.droplet.size = size[1];
  for (const token of text.split(/[\s,;()'"`]+/)) {
    const word = token.replace(/\.$/, '');
    if (!request.droplet.size && sizeShape.test(word)) request.droplet.size = word;
    if (!request.droplet.region && new RegExp(`^(?:${regionPrefixes.join('|')})\\d$`).test(word)) request.droplet.region = word;
  }
  const ip = /\b(\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?)(?![\d.])/.exec(text);
  if (ip) request.droplet.admin_ip = ip[1];
  const keys = [
    ...[...text.matchAll(/\b((?:ssh-(?:ed25519|rsa)|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/]+={0,2}(?: [\w.@-]+)?)/g)].map(
      (m) => m[1],
    ),
    ...[...text.matchAll(/\b((?:[0-9a-f]{2}:){15}[0-9a-f]{2})\b/gi)].map((m) => m[1]),
  ];
  if (keys.length > 0) request.droplet.ssh_keys = keys;
  return request;
}
