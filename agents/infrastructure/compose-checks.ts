// Checks a Compose document the way `docker compose config` and the engine would reject it, plus
// the mistakes they accept but that break a deployment (host port clashes, replicas on a fixed
// port, privileged containers nobody asked for). Problems make the config invalid; warnings do not.

export interface ComposeHealthcheck {
  test: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
}

export interface ComposeService {
  image: string;
  command?: string[] | string;
  working_dir?: string;
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: 'service_healthy' | 'service_started' }>;
  healthcheck?: ComposeHealthcheck;
  restart: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  deploy?: { replicas: number };
  privileged?: boolean;
  network_mode?: string;
}

export interface ComposeDocument {
  services: Record<string, ComposeService>;
  volumes?: Record<string, Record<string, never>>;
}

export interface CheckPermissions {
  privileged: boolean;
  hostNetwork: boolean;
}

export interface CheckResult {
  problems: string[];
  warnings: string[];
}

// The grammar of github.com/distribution/reference, which the engine uses to parse `image:`.
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainRe = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`);
const pathComponentRe = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

/** Why `ref` is not an image reference, or undefined when it is one. */
export function imageRefProblem(ref: string): string | undefined {
  if (ref.length === 0) return 'it is empty';
  if (/\s/.test(ref)) return 'it contains whitespace';
  const [beforeDigest, digest, ...extra] = ref.split('@');
  if (extra.length > 0) return 'it has more than one "@"';
  if (digest !== undefined && !digestRe.test(digest)) return `digest "${digest}" is not algorithm:hex`;
  const lastSlash = beforeDigest.lastIndexOf('/');
  const colon = beforeDigest.lastIndexOf(':');
  const hasTag = colon > lastSlash;
  const name = hasTag ? beforeDigest.slice(0, colon) : beforeDigest;
  const tag = hasTag ? beforeDigest.slice(colon + 1) : undefined;
  if (tag !== undefined && !tagRe.test(tag)) return `tag "${tag}" must be 1-128 of [A-Za-z0-9_.-] not starting with "." or "-"`;
  if (name.length > 255) return 'the repository name is longer than 255 characters';
  const parts = name.split('/');
  // As in the engine, the first part is a registry only if it looks like a host.
  const first = parts[0];
  const hasDomain =
    parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (hasDomain && !domainRe.test(first)) return `registry "${first}" is not a host[:port]`;
  const path = hasDomain ? parts.slice(1) : parts;
  const bad = path.find((p) => !pathComponentRe.test(p));
  if (bad !== undefined) return `repository part "${bad}" must be lowercase letters and digits joined by ".", "_", "__" or "-"`;
  return undefined;
}

export interface PortMapping {
  ip?: string;
  host?: number;
  container: number;
  protocol: string;
}

/** Parses the short port syntax `[ip:][host:]container[/proto]`; throws a message on bad syntax. */
export function parsePort(spec: string): PortMapping {
  const [body, protocol = 'tcp', ...rest] = spec.split('/');
  if (rest.length > 0 || !['tcp', 'udp', 'sctp'].includes(protocol)) throw new Error(`port "${spec}" has an unknown protocol`);
  const parts = body.split(':');
  if (parts.length > 3) throw new Error(`port "${spec}" is not [ip:][host:]container`);
  const numbers = parts.slice(parts.length === 3 ? 1 : 0).map((p) => {
    if (!/^\d+$/.test(p)) throw new Error(`port "${spec}" has "${p}", which is not a port number`);
    return Number(p);
  });
  for (const n of numbers) if (n < 1 || n > 65535) throw new Error(`port ${n} is outside 1-65535`);
  const container = numbers.at(-1) ?? 0;
  const host = numbers.length === 2 ? numbers[0] : undefined;
  return { ...(parts.length === 3 ? { ip: parts[0] } : {}), ...(host !== undefined ? { host } : {}), container, protocol };
}

const serviceNameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const volumeNameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const envNameRe = /^[A-Za-z_][A-Za-z0-9_]*$/;
const durationRe = /^(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+$/;
const secretNameRe = /PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY/i;

export function checkCompose(doc: ComposeDocument, allow: CheckPermissions): CheckResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const published: Array<PortMapping & { host: number; service: string }> = [];
  const names = Object.keys(doc.services);
  if (names.length === 0) problems.push('the file defines no services');

  for (const [name, svc] of Object.entries(doc.services)) {
    const where = `service "${name}"`;
    if (!serviceNameRe.test(name)) problems.push(`${where}: name must start with a letter or digit and use only [a-zA-Z0-9_.-]`);
    const imageProblem = imageRefProblem(svc.image);
    if (imageProblem) problems.push(`${where}: image "${svc.image}" is not a valid image reference: ${imageProblem}`);
    else if (!svc.image.includes('@') && (!/:[^/]+$/.test(svc.image) || svc.image.endsWith(':latest'))) {
      warnings.push(`${where}: image "${svc.image}" is not pinned to a version tag; redeploys may pull a different image`);
    }

    const replicas = svc.deploy?.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 0) problems.push(`${where}: replicas ${replicas} must be a whole number of 0 or more`);
    for (const spec of svc.ports ?? []) {
      let port: PortMapping;
      try {
        port = parsePort(spec);
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
        continue;
      }
      if (port.host === undefined) continue;
      const host = port.host;
      // Two bindings clash on the same host port unless both name different specific addresses.
      const clash = published.find(
        (p) => p.host === host && p.protocol === port.protocol && (p.ip === undefined || port.ip === undefined || p.ip === port.ip),
      );
      if (clash) problems.push(`${where}: host port ${host} is already published by service "${clash.service}"`);
      else published.push({ ...port, host, service: name });
      if (replicas > 1)
        problems.push(
          `${where}: ${replicas} replicas cannot all publish fixed host port ${port.host}; publish the container port only or use a proxy`,
        );
    }

    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      if (!envNameRe.test(key)) problems.push(`${where}: environment variable name "${key}" must match [A-Za-z_][A-Za-z0-9_]*`);
      if (secretNameRe.test(key) && value !== '' && !value.includes('${')) {
        warnings.push(`${where}: ${key} holds a literal secret; interpolate it from the environment (\${${key}:?})`);
      }
    }

    checkVolumes(where, svc.volumes ?? [], doc, problems);

    for (const dep of Object.keys(svc.depends_on ?? {})) {
      if (dep === name) problems.push(`${where}: depends on itself`);
      else if (!(dep in doc.services)) problems.push(`${where}: depends_on "${dep}" is not a service in this file`);
      else if (svc.depends_on?.[dep]?.condition === 'service_healthy' && !doc.services[dep].healthcheck) {
        problems.push(`${where}: waits for "${dep}" to be healthy but "${dep}" has no healthcheck`);
      }
    }

    checkHealthcheck(where, svc.healthcheck, problems, warnings);

    if (svc.privileged && !allow.privileged)
      problems.push(`${where}: runs privileged, which was not asked for; it gives the container root on the host`);
    if (svc.network_mode === 'host' && !allow.hostNetwork)
      problems.push(`${where}: uses the host network, which was not asked for; it bypasses port isolation`);
    if (svc.network_mode === 'host' && (svc.ports?.length ?? 0) > 0)
      problems.push(`${where}: published ports are ignored with network_mode host`);
    if (Array.isArray(svc.command) && svc.command.length === 0) problems.push(`${where}: command is an empty list`);
  }

  problems.push(...dependencyCycles(doc));
  return { problems, warnings };
}

function checkVolumes(where: string, volumes: string[], doc: ComposeDocument, problems: string[]): void {
  for (const volume of volumes) {
    const [source, target, mode, ...extra] = volume.split(':');
    if (target === undefined) {
      if (!source.startsWith('/')) problems.push(`${where}: volume "${volume}" must be source:/absolute/path or an absolute path`);
      continue;
    }
    if (extra.length > 0 || (mode !== undefined && !/^(ro|rw|z|Z|cached|delegated|consistent|nocopy)(,(ro|rw|z|Z|nocopy))*$/.test(mode))) {
      problems.push(`${where}: volume "${volume}" has an unknown mode "${[mode, ...extra].join(':')}"`);
    }
    if (!target.startsWith('/')) problems.push(`${where}: volume target "${target}" must be an absolute path in the container`);
    const isBind = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
    if (isBind) continue;
    if (!volumeNameRe.test(source))
      problems.push(`${where}: volume name "${source}" must start with a letter or digit and use only [a-zA-Z0-9_.-]`);
    else if (!doc.volumes || !(source in doc.volumes))
      problems.push(`${where}: named volume "${source}" is not declared under top-level volumes`);
  }
}

function checkHealthcheck(where: string, hc: ComposeHealthcheck | undefined, problems: string[], warnings: string[]): void {
  if (!hc) {
    warnings.push(`${where}: no healthcheck, so dependants cannot wait for it to be ready`);
    return;
  }
  const [kind, ...args] = hc.test;
  if (kind === 'CMD' || kind === 'CMD-SHELL') {
    if (args.length === 0 || args.every((a) => a.trim() === '')) problems.push(`${where}: healthcheck ${kind} has no command`);
  } else if (kind !== 'NONE') problems.push(`${where}: healthcheck test must start with CMD, CMD-SHELL or NONE, not "${kind}"`);
  for (const field of ['interval', 'timeout', 'start_period'] as const) {
    const value = hc[field];
    if (value !== undefined && !durationRe.test(value))
      problems.push(`${where}: healthcheck ${field} "${value}" is not a duration like 10s or 1m30s`);
  }
  if (hc.retries !== undefined && (!Number.isInteger(hc.retries) || hc.retries < 1))
    problems.push(`${where}: healthcheck retries ${hc.retries} must be a whole number of 1 or more`);
}

function dependencyCycles(doc: ComposeDocument): string[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      cycles.push(`depends_on forms a cycle: ${[...trail.slice(trail.indexOf(name)), name].join(' -> ')}`);
      return;
    }
    state.set(name, 'visiting');
    for (const dep of Object.keys(doc.services[name]?.depends_on ?? {}))
      if (dep !== name && dep in doc.services) visit(dep, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(doc.services)) visit(name, []);
  return cycles;
}
