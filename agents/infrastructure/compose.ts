// Turns what was asked (structured service or task text) into a Compose document. Building never
// rejects a value: whatever the user gave is written as given and left to compose-checks to judge,
// so a bad port comes back as a problem in the report rather than silently corrected.
import { stringify } from 'yaml';
import { findKnownService, type KnownService } from './catalog.ts';
import type { ComposeDocument, ComposeHealthcheck, ComposeService } from './compose-checks.ts';
import type { TaskRequest } from './task-text.ts';

/**
 * YAML that YAML 1.1 readers agree with too: `yes`/`on`/`no` get quoted, since some compose
 * tooling still reads them as booleans. Lines are not folded, so commands stay on one line.
 */
export function toYaml(value: unknown): string {
  return stringify(value, { version: '1.1', lineWidth: 0 });
}

export interface ServiceInput {
  name?: string;
  image?: string;
  port?: number | string;
  env?: Record<string, string | number | boolean>;
  volumes?: string[];
  command?: string | string[];
  depends_on?: string[];
  healthcheck?:
    string | string[] | false | { test: string | string[]; interval?: string; timeout?: string; retries?: number; start_period?: string };
  replicas?: number;
  privileged?: boolean;
  network_mode?: string;
}

/** One service to write, before rendering: the user's values plus what the catalog knows. */
export interface ServicePlan {
  name: string;
  known?: KnownService;
  input: ServiceInput;
  /** True when the user chose the host port, so a clash is theirs to see, not ours to move. */
  hostPortGiven: boolean;
}

const defaultHealthTiming = { interval: '10s', timeout: '5s', retries: 5, start_period: '10s' };

function slug(value: string): string {
  return (
    value
      .toLowerCase()
      .replace(/[^a-z0-9_.-]+/g, '-')
      .replace(/^[^a-z0-9]+|-+$/g, '') || 'service'
  );
}

/** Name a service after its image when nothing else names it ("ghcr.io/acme/api:1" -> "api"). */
export function nameFromImage(image: string): string {
  return slug(
    image
      .split('@')[0]
      .replace(/:[^/]*$/, '')
      .split('/')
      .at(-1) ?? 'service',
  );
}

export function plansFromInput(service: ServiceInput): ServicePlan[] {
  const known = findKnownService(service.name ?? '') ?? (service.image ? findKnownService(service.image) : undefined);
  const name = service.name ?? (service.image ? nameFromImage(service.image) : (known?.key ?? 'service'));
  const plans: ServicePlan[] = [{ name, ...(known ? { known } : {}), input: service, hostPortGiven: service.port !== undefined }];
  // A dependency on a service the catalog knows can be deployed beside it; unknown ones are reported.
  for (const dep of service.depends_on ?? []) {
    const depKnown = findKnownService(dep);
    if (depKnown && dep !== name) plans.push({ name: dep, known: depKnown, input: {}, hostPortGiven: false });
  }
  return plans;
}

export function plansFromTask(request: TaskRequest): ServicePlan[] {
  const plans: ServicePlan[] = request.services.map((m) => ({
    name: m.name ?? m.known.key,
    known: m.known,
    input: { ...(m.name ? { name: m.name } : {}), ...(m.port !== undefined ? { port: m.port } : {}) },
    hostPortGiven: m.port !== undefined,
  }));
  if (request.image) {
    const known = findKnownService(request.image.ref);
    const name = request.image.name ?? (known && !plans.some((p) => p.known === known) ? known.key : nameFromImage(request.image.ref));
    const same = plans.find((p) => p.known === known);
    // "redis with image redis:7.2" is one service with a chosen image, not two.
    if (same) same.input.image = request.image.ref;
    else
      plans.unshift({
        name,
        ...(known ? { known } : {}),
        input: { image: request.image.ref, ...(request.image.port !== undefined ? { port: request.image.port } : {}) },
        hostPortGiven: request.image.port !== undefined,
      });
  }
  // App services come first: they are what was asked for; data services are what they need.
  plans.sort((a, b) => Number(b.known?.kind === 'app') - Number(a.known?.kind === 'app'));
  const primary = plans[0];
  if (primary) {
    if (Object.keys(request.env).length > 0) primary.input.env = { ...request.env };
    if (request.replicas !== undefined) primary.input.replicas = request.replicas;
    if (primary.known?.kind === 'app' || !primary.known) {
      const deps = plans
        .slice(1)
        .filter((p) => p.known?.kind === 'data')
        .map((p) => p.name);
      if (deps.length > 0) primary.input.depends_on = deps;
    }
  }
  return plans;
}

function healthcheckFor(plan: ServicePlan, containerPort: number | undefined): ComposeHealthcheck | undefined {
  const given = plan.input.healthcheck;
  if (given === false) return undefined;
  if (given === undefined) {
    return plan.known && containerPort !== undefined ? { test: plan.known.healthcheck(containerPort), ...defaultHealthTiming } : undefined;
  }
  if (typeof given === 'string') return { test: ['CMD-SHELL', given], ...defaultHealthTiming };
  if (Array.isArray(given)) return { test: given, ...defaultHealthTiming };
  const test = typeof given.test === 'string' ? ['CMD-SHELL', given.test] : given.test;
  return { ...defaultHealthTiming, ...given, test };
}

/** The container port and the `ports:` entry for a plan, honouring "host:container" strings as given. */
function portsFor(plan: ServicePlan, publicPorts: boolean): { container: number | undefined; entries: string[] } {
  const given = plan.input.port;
  const known = plan.known;
  // Data stores stay on loopback unless asked: other services reach them over the compose network.
  const bind = known?.kind === 'data' && !publicPorts ? '127.0.0.1:' : '';
  if (typeof given === 'string') {
    const last = Number(given.split('/')[0].split(':').at(-1));
    return { container: Number.isInteger(last) ? last : known?.port, entries: [given] };
  }
  if (given !== undefined) {
    // A catalog service listens where its image does; the port asked for is where it is published.
    const container = known && known.kind !== 'app' ? known.port : given;
    return { container, entries: [`${bind}${given}:${container}`] };
  }
  if (!known) return { container: undefined, entries: [] };
  return { container: known.port, entries: [known.port, ...known.extraPorts].map((p) => `${bind}${p}:${p}`) };
}

export interface BuildOptions {
  publicPorts: boolean;
}

export function buildCompose(plans: ServicePlan[], options: BuildOptions): ComposeDocument {
  const doc: ComposeDocument = { services: {} };
  const volumes: Record<string, Record<string, never>> = {};
  const takenHostPorts = new Set<number>();
  for (const plan of plans) {
    for (const spec of plan.hostPortGiven ? portsFor(plan, options.publicPorts).entries : []) {
      const host = Number(spec.split('/')[0].split(':').at(-2));
      if (Number.isInteger(host)) takenHostPorts.add(host);
    }
  }

  for (const plan of plans) {
    const { known, input } = plan;
    const { container, entries } = portsFor(plan, options.publicPorts);
    const ports = plan.hostPortGiven ? entries : entries.map((spec) => moveOffTakenPort(spec, takenHostPorts));
    const environment: Record<string, string> = { ...known?.env };
    if (known?.kind === 'app' && container !== undefined) environment.PORT = String(container);
    for (const [key, value] of Object.entries(input.env ?? {})) environment[key] = String(value);

    const serviceVolumes = [...(input.volumes ?? [])];
    if (known?.dataPath && !serviceVolumes.some((v) => v.split(':')[1] === known.dataPath))
      serviceVolumes.push(`${plan.name}-data:${known.dataPath}`);
    for (const volume of serviceVolumes) {
      const source = volume.split(':')[0];
      if (volume.includes(':') && !/^[./~]/.test(source)) volumes[source] = {};
    }

    const healthcheck = healthcheckFor(plan, container);
    const command = input.command ?? known?.command;
    const service: ComposeService = {
      image: input.image ?? known?.image ?? '',
      ...(command !== undefined ? { command } : {}),
      ...(known?.workingDir ? { working_dir: known.workingDir } : {}),
      ...(ports.length > 0 ? { ports } : {}),
      ...(Object.keys(environment).length > 0 ? { environment } : {}),
      ...(serviceVolumes.length > 0 ? { volumes: serviceVolumes } : {}),
      ...(healthcheck ? { healthcheck } : {}),
      restart: 'unless-stopped',
      ...(input.replicas !== undefined ? { deploy: { replicas: input.replicas } } : {}),
      ...(input.privileged !== undefined ? { privileged: input.privileged } : {}),
      ...(input.network_mode !== undefined ? { network_mode: input.network_mode } : {}),
    };
    doc.services[plan.name] = service;
  }

  // depends_on is filled after every service exists, so the condition can follow the target's healthcheck.
  for (const plan of plans) {
    const deps = plan.input.depends_on ?? [];
    if (deps.length === 0) continue;
    doc.services[plan.name].depends_on = Object.fromEntries(
      deps.map((dep) => [dep, { condition: doc.services[dep]?.healthcheck ? 'service_healthy' : 'service_started' }] as const),
    );
  }
  if (Object.keys(volumes).length > 0) doc.volumes = volumes;
  return doc;
}

function moveOffTakenPort(spec: string, taken: Set<number>): string {
  const parts = spec.split(':');
  let host = Number(parts.at(-2));
  if (!Number.isInteger(host)) return spec;
  while (taken.has(host) && host < 65535) host += 1;
  taken.add(host);
  parts[parts.length - 2] = String(host);
  return parts.join(':');
}
