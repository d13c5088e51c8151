import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as keda from '@kubernetes-models/keda';
import * as models from 'kubernetes-models';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { builtInAgentNames } from '../../agents/index.ts';
import { loadConfig, type Config } from '../../services/config/index.ts';
import { createDiscovery } from '../../services/discovery/index.ts';
import { requestStream } from '../../services/protocol/index.ts';

// The Kubernetes profile (k8s/) rendered by the real kubectl kustomize, every object checked against
// the Kubernetes (and KEDA) schemas, and the manifests checked against the code they run: the
// config each container would load, the discovery URLs, the stream names and the Prometheus config.

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const kubectl = process.env.KUBECTL ?? 'kubectl';
const NAMESPACE = 'agentic-mesh';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
};

async function kubectlRun(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(kubectl, args, { cwd: root, maxBuffer: 32 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `kubectl not found (${kubectl}): the k8s/ manifests are rendered with \`kubectl kustomize\`; install kubectl or point KUBECTL at one`,
        { cause: err },
      );
    }
    throw new Error(`${kubectl} ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`, {
      cause: err,
    });
  }
}

function parseYaml(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
      return d.toJSON() as Obj;
    })
    .filter(Boolean);
}

/** Every model class of kubernetes-models and @kubernetes-models/keda, by "apiVersion/kind". */
function modelIndex(): Map<string, { new (data: unknown): { validate(): void } }> {
  const index = new Map<string, { new (data: unknown): { validate(): void } }>();
  const walk = (module: object, depth: number) => {
    for (const value of Object.values(module)) {
      if (typeof value === 'function' && typeof value.kind === 'string' && typeof value.apiVersion === 'string')
        index.set(`${value.apiVersion}/${value.kind}`, value);
      else if (value && typeof value === 'object' && depth < 4) walk(value, depth + 1);
    }
  };
  walk(models, 0);
  walk(keda, 0);
  return index;
}

const index = modelIndex();
// Versions served by no current cluster (removed in 1.22-1.26) still have schemas in the package.
const removedVersion = /^(extensions\/|apps\/v1beta|autoscaling\/v2beta|policy\/v1beta1|batch\/v1beta1|networking\.k8s\.io\/v1beta1)/;

/** Throws naming the object when its kind is unknown, its API version is removed, or it breaks its schema. */
function validateObject(obj: Obj): void {
  const id = `${obj.apiVersion}/${obj.kind} ${obj.metadata?.name}`;
  if (removedVersion.test(obj.apiVersion)) throw new Error(`${id}: API version ${obj.apiVersion} is no longer served by Kubernetes`);
  const Model = index.get(`${obj.apiVersion}/${obj.kind}`);
  if (!Model) throw new Error(`${id}: unknown kind, no schema for it`);
  try {
    new Model(obj).validate();
  } catch (err) {
    throw new Error(`${id}: ${(err as Error).message}`, { cause: err });
  }
}

const byKind = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);
const find = (objs: Obj[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return o;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const portOf = (container: any, name: string): number | undefined => container.ports?.find((p: any) => p.name === name)?.containerPort;

/** The environment a container starts with, given the ConfigMaps and the example Secret. */
function containerEnv(
  objs: Obj[],
  pod: { metadata: { name: string; namespace: string } },
  container: any,
  secret: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, find(objs, 'ConfigMap', from.configMapRef.name).data);
    if (from.secretRef) Object.assign(env, secret);
  }
  for (const e of container.env ?? []) {
    if ('value' in e) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef)
      env[e.name] = e.valueFrom.fieldRef.fieldPath === 'metadata.name' ? pod.metadata.name : pod.metadata.namespace;
    else if (e.valueFrom?.secretKeyRef) {
      const { key, optional } = e.valueFrom.secretKeyRef;
      if (key in secret) env[e.name] = secret[key]!;
      else if (!optional) throw new Error(`${container.name} needs Secret key ${key}, which secret.example.env does not have`);
    } else if (e.valueFrom?.configMapKeyRef)
      env[e.name] = find(objs, 'ConfigMap', e.valueFrom.configMapKeyRef.name).data![e.valueFrom.configMapKeyRef.key]!;
  }
  return env;
}

/** Prometheus relabelling (keep and replace, the actions prometheus-k8s.yml uses) on one target. */
function relabel(labels: Record<string, string>, configs: any[]): Record<string, string> | undefined {
  const out = { ...labels };
  for (const c of configs) {
    const value = (c.source_labels ?? []).map((l: string) => out[l] ?? '').join(c.separator ?? ';');
    const re = new RegExp(`^(?:${c.regex ?? '(.*)'})$`);
    const m = re.exec(value);
    const action = c.action ?? 'replace';
    if (action === 'keep') {
      if (!m) return undefined;
    } else if (action === 'replace') {
      if (m) out[c.target_label] = (c.replacement ?? '$1').replace(/\$(\d+)/g, (_: string, i: string) => m[Number(i)] ?? '');
    } else {
      throw new Error(`relabel action ${action} is not modelled here`);
    }
  }
  return out;
}

const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, '_');

const roles: Record<string, string[]> = {
  orchestrator: ['orchestrator'],
  knowledge: ['knowledge'],
  'mcp-gateway': ['mcp-gateway'],
  ...Object.fromEntries(builtInAgentNames.map((name) => [name, ['agent', name]])),
};
const agentNames = builtInAgentNames;

interface Rendered {
  base: Obj[];
  production: Obj[];
  /** The Secret as an operator makes it from secret.example.env, decoded. */
  secret: Record<string, string>;
}

let rendering: Promise<Rendered> | undefined;

/** Rendered once for the file; every test awaits it, so a missing kubectl fails each test by name. */
function rendered(): Promise<Rendered> {
  rendering ??= (async () => {
    const base = parseYaml(await kubectlRun(['kustomize', 'k8s/base']));
    const production = parseYaml(await kubectlRun(['kustomize', 'k8s/overlays/production']));
    // --dry-run=client: nothing contacts a cluster.
    const secretYaml = parseYaml(
      await kubectlRun([
        'create',
        'secret',
        'generic',
        'agentic-mesh-secrets',
        '--from-env-file=k8s/base/secret.example.env',
        '--dry-run=client',
        '-o',
        'yaml',
        '-n',
        NAMESPACE,
      ]),
    )[0]!;
    validateObject(secretYaml);
    const secret = Object.fromEntries(
      Object.entries(secretYaml.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    return { base, production, secret };
  })();
  return rendering;
}

describe('the schema check itself', () => {
  it('rejects an unknown kind, a removed API version and a schema error', () => {
    expect(() => validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toThrow(/unknown kind/);
    expect(() => validateObject({ apiVersion: 'policy/v1beta1', kind: 'PodDisruptionBudget', metadata: { name: 'p' }, spec: {} })).toThrow(
      /no longer served/,
    );
    expect(() =>
      validateObject({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: { selector: {}, template: { spec: { containers: [{ name: 'c', ports: [{ containerPort: 'http' }] }] } } },
      }),
    ).toThrow(/containerPort must be integer/);
    expect(() =>
      validateObject({
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 's' },
        spec: { scaleTargetRef: { name: 'x' }, triggers: [{ type: 'redis-streams', metadata: { lagCount: 5 } }] },
      } as Obj),
    ).toThrow(/lagCount must be string/);
  });
});

describe.each([
  ['base', async () => (await rendered()).base],
  ['overlays/production', async () => (await rendered()).production],
])('k8s/%s', (_name, objects) => {
  it('renders objects that all pass their Kubernetes or KEDA schema, in the agentic-mesh namespace', async () => {
    const objs = await objects();
    expect(objs.length).toBeGreaterThan(30);
    const problems: string[] = [];
    for (const o of objs) {
      try {
        validateObject(o);
      } catch (err) {
        problems.push((err as Error).message);
      }
      if (o.kind !== 'Namespace' && o.metadata.namespace !== NAMESPACE)
        problems.push(`${o.kind} ${o.metadata.name} is in namespace ${o.metadata.namespace}`);
    }
    expect(problems).toEqual([]);
    expect(find(objs, 'Namespace', NAMESPACE)).toBeTruthy();
  });

  it('has a Deployment and a Service per role: same image, role args, named ports, probes, resources, locked down', async () => {
    const objs = await objects();
    const deployments = byKind(objs, 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(Object.keys(roles).sort());
    const images = new Set<string>();
    for (const d of deployments) {
      const name = d.metadata.name;
      const pod = d.spec.template.spec;
      expect(pod.containers, name).toHaveLength(1);
      const c = pod.containers[0];
      images.add(c.image);
      expect(c.args, name).toEqual(roles[name]);
      expect(portOf(c, 'http'), name).toBe(8080);
      expect(portOf(c, 'health'), name).toBe(8081);
      expect(portOf(c, 'metrics'), name).toBe(9091);
      // Only agents run a gRPC server.
      expect(portOf(c, 'grpc'), name).toBe(agentNames.includes(name) ? 9090 : undefined);
      expect(c.livenessProbe?.httpGet, name).toEqual({ path: '/health', port: 'health' });
      expect(c.readinessProbe?.httpGet, name).toEqual({ path: '/ready', port: 'health' });
      expect(c.startupProbe?.httpGet, name).toEqual({ path: '/health', port: 'health' });
      expect(
        c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.cpu && c.resources?.limits?.memory,
        name,
      ).toBeTruthy();
      expect(pod.securityContext?.runAsNonRoot, name).toBe(true);
      expect(c.securityContext, name).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      const tmp = c.volumeMounts?.find((m: any) => m.mountPath === '/tmp');
      expect(pod.volumes.find((v: any) => v.name === tmp?.name)?.emptyDir, `${name} has a writable /tmp`).toBeTruthy();

      const svc = find(objs, 'Service', name);
      expect(matches(svc.spec.selector, d.spec.template.metadata.labels), `Service ${name} selects its pods`).toBe(true);
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
      for (const p of svc.spec.ports) expect(portOf(c, p.targetPort), `Service ${name} port ${p.name}`).toBe(p.port);
      expect(svc.spec.ports.map((p: any) => p.name).sort()).toEqual(c.ports.map((p: any) => p.name).sort());
    }
    // One image for every role (the CLI's role argument picks the process).
    expect(images.size).toBe(1);
  });

  it('has a PodDisruptionBudget for every role and an HPA on the orchestrator’s CPU', async () => {
    const objs = await objects();
    for (const d of byKind(objs, 'Deployment')) {
      const pdbs = byKind(objs, 'PodDisruptionBudget').filter((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(
        pdbs.map((p) => p.metadata.name),
        d.metadata.name,
      ).toEqual([d.metadata.name]);
    }
    const hpas = byKind(objs, 'HorizontalPodAutoscaler');
    expect(hpas).toHaveLength(1);
    const hpa = hpas[0]!;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'orchestrator' });
    expect(hpa.spec.metrics).toContainEqual({
      type: 'Resource',
      resource: { name: 'cpu', target: expect.objectContaining({ type: 'Utilization' }) },
    });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    // The HPA and KEDA own the replica counts: an apply must not reset them.
    for (const name of ['orchestrator', ...agentNames]) expect(find(objs, 'Deployment', name).spec.replicas, name).toBeUndefined();
  });

  it('scales each agent with a KEDA redis-streams trigger on the lag of the stream it reads', async () => {
    const objs = await objects();
    const { secret } = await rendered();
    const scaled = byKind(objs, 'ScaledObject');
    expect(scaled.map((s) => s.metadata.name).sort()).toEqual([...agentNames].sort());
    const redisSvc = find(objs, 'Service', 'redis');
    for (const name of agentNames) {
      const so = find(objs, 'ScaledObject', name);
      expect(so.spec.scaleTargetRef.name).toBe(name);
      expect(so.spec.triggers).toHaveLength(1);
      const t = so.spec.triggers[0];
      expect(t.type).toBe('redis-streams');
      expect(t.metadata.stream).toBe(requestStream(name));
      // The stream worker reads in consumer group <agent name>.
      expect(t.metadata.consumerGroup).toBe(name);
      expect(Number(t.metadata.lagCount)).toBeGreaterThan(0);
      // KEDA's operator lives in another namespace: the address must be the Service's full name.
      expect(t.metadata.address).toBe(`${redisSvc.metadata.name}.${NAMESPACE}.svc.cluster.local:${redisSvc.spec.ports[0].port}`);
      const auth = find(objs, 'TriggerAuthentication', t.authenticationRef.name);
      const password = auth.spec.secretTargetRef.find((r: any) => r.parameter === 'password');
      expect(password.name).toBe('agentic-mesh-secrets');
      expect(secret[password.key], 'the example Secret has the Redis password key').toBeTruthy();
      expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect(so.spec.maxReplicaCount).toBeGreaterThan(so.spec.minReplicaCount);
    }
  });

  it('gives every container a configuration the code accepts: ports, discovery, transports and Services agree', async () => {
    const objs = await objects();
    const { secret } = await rendered();
    const configs: Record<string, Config> = {};
    for (const d of byKind(objs, 'Deployment')) {
      const c = d.spec.template.spec.containers[0];
      const pod = { metadata: { name: `${d.metadata.name}-5d8f7c9b4-x2k7q`, namespace: d.metadata.namespace! } };
      const config = loadConfig(containerEnv(objs, pod, c, secret));
      configs[d.metadata.name] = config;
      expect(config.host).toBe('0.0.0.0');
      expect(config.port).toBe(portOf(c, 'http'));
      expect(config.healthPort).toBe(portOf(c, 'health'));
      expect(config.metricsPort).toBe(portOf(c, 'metrics'));
      if (agentNames.includes(d.metadata.name)) {
        expect(config.port! + config.grpcPortOffset).toBe(portOf(c, 'grpc'));
        expect(config.agentTransports[d.metadata.name]).toBe('stream');
        expect(config.redisUrl).toBeTruthy();
      }
    }
    const orch = configs.orchestrator!;
    expect(orch.orchestratorId).toMatch(/^orchestrator-/);
    expect(orch.databaseUrl).toBeTruthy();
    expect(orch.auth.mode).toBe('keys');
    expect(orch.trustProxy).toEqual(['10.244.0.0/16']);
    for (const name of agentNames) expect(orch.agentTransports[name], name).toBe('stream');
    // Every agent the orchestrator would call is a Service on its http port.
    const discovery = createDiscovery(orch, { warn() {}, error() {}, info() {}, debug() {} } as never);
    expect(discovery.kind).toBe('kubernetes');
    for (const name of agentNames) {
      const url = new URL(discovery.pick(name)!.url);
      const [svcName, ns] = url.hostname.split('.');
      expect(ns).toBe(NAMESPACE);
      const svc = find(objs, 'Service', svcName!);
      expect(svc.spec.ports.find((p: any) => p.name === 'http').port).toBe(Number(url.port));
      expect(matches(svc.spec.selector, find(objs, 'Deployment', name).spec.template.metadata.labels)).toBe(true);
    }
    // The MCP gateway and the agents reach the orchestrator and the knowledge service by Service name.
    for (const url of [
      configs['mcp-gateway']!.orchestratorUrl,
      configs['mcp-gateway']!.knowledgeUrl!,
      configs['code-review']!.knowledgeUrl!,
    ]) {
      const u = new URL(url);
      expect(
        find(objs, 'Service', u.hostname).spec.ports.find((p: any) => p.port === Number(u.port)),
        url,
      ).toBeTruthy();
    }
  });

  it('runs Postgres 16 and Redis 7 as StatefulSets with volumes, behind headless Services the example Secret points at', async () => {
    const objs = await objects();
    const { secret } = await rendered();
    const pg = find(objs, 'StatefulSet', 'postgres');
    const redis = find(objs, 'StatefulSet', 'redis');
    expect(pg.spec.template.spec.containers[0].image).toMatch(/^postgres:16\b/);
    expect(redis.spec.template.spec.containers[0].image).toMatch(/^redis:7\b/);
    for (const s of [pg, redis]) {
      const svc = find(objs, 'Service', s.spec.serviceName);
      expect(svc.spec.clusterIP).toBe('None');
      expect(matches(svc.spec.selector, s.spec.template.metadata.labels)).toBe(true);
      const claim = s.spec.volumeClaimTemplates[0];
      expect(s.spec.template.spec.containers[0].volumeMounts.map((m: any) => m.name)).toContain(claim.metadata.name);
      expect(s.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    }
    const db = new URL(secret.DATABASE_URL!);
    expect(db.hostname).toBe(pg.spec.serviceName);
    expect(decodeURIComponent(db.password)).toBe(secret.POSTGRES_PASSWORD);
    const pgEnv = Object.fromEntries(pg.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(db.pathname).toBe(`/${pgEnv.POSTGRES_DB}`);
    expect(decodeURIComponent(db.username)).toBe(pgEnv.POSTGRES_USER);
    const r = new URL(secret.REDIS_URL!);
    expect(r.hostname).toBe(redis.spec.serviceName);
    expect(decodeURIComponent(r.password)).toBe(secret.REDIS_PASSWORD);
    expect(redis.spec.template.spec.containers[0].args.join(' ')).toContain('--requirepass $(REDIS_PASSWORD)');
  });

  it('has every app pod scraped by monitoring/prometheus/prometheus-k8s.yml on its metrics port, and no other pod', async () => {
    const objs = await objects();
    const prom = parse(await readFile(`${root}monitoring/prometheus/prometheus-k8s.yml`, 'utf8'));
    const job = prom.scrape_configs.find((j: any) => j.kubernetes_sd_configs?.some((s: any) => s.role === 'pod'));
    expect(job.kubernetes_sd_configs[0].namespaces.names).toContain(NAMESPACE);
    for (const w of [...byKind(objs, 'Deployment'), ...byKind(objs, 'StatefulSet')]) {
      const t = w.spec.template;
      const c = t.spec.containers[0];
      const meta: Record<string, string> = {
        __address__: `10.244.0.7:${c.ports[0].containerPort}`,
        __meta_kubernetes_pod_name: `${w.metadata.name}-0`,
        __meta_kubernetes_namespace: NAMESPACE,
      };
      for (const [k, v] of Object.entries(t.metadata.annotations ?? {}))
        meta[`__meta_kubernetes_pod_annotation_${sanitize(k)}`] = String(v);
      for (const [k, v] of Object.entries(t.metadata.labels ?? {})) meta[`__meta_kubernetes_pod_label_${sanitize(k)}`] = String(v);
      const target = relabel(meta, job.relabel_configs);
      if (w.kind === 'StatefulSet') {
        expect(target, `${w.metadata.name} exports no metrics`).toBeUndefined();
        continue;
      }
      expect(target?.__address__, w.metadata.name).toBe(`10.244.0.7:${portOf(c, 'metrics')}`);
      expect(target?.job, w.metadata.name).toBe(t.metadata.labels['app.kubernetes.io/component']);
      expect(t.metadata.annotations['prometheus.io/path'] ?? '/metrics').toBe('/metrics');
    }
  });

  it('backs up nightly at 02:00 UTC with the backup image', async () => {
    const objs = await objects();
    const cron = find(objs, 'CronJob', 'backup');
    expect(cron.spec.schedule).toBe('0 2 * * *');
    expect(cron.spec.timeZone).toBe('Etc/UTC');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const c = cron.spec.jobTemplate.spec.template.spec.containers[0];
    expect(c.image).toMatch(/agentic-mesh-backup/);
    expect(c.command.join(' ')).toContain('scripts/backup.sh');
    const names = c.env.map((e: any) => e.name);
    for (const v of ['DATABASE_URL', 'REDIS_URL', 'BACKUP_DIR', 'SPACES_BUCKET', 'SPACES_ACCESS_KEY_ID', 'SPACES_SECRET_ACCESS_KEY'])
      expect(names).toContain(v);
    const claim = cron.spec.jobTemplate.spec.template.spec.volumes.find((v: any) => v.persistentVolumeClaim)?.persistentVolumeClaim
      .claimName;
    expect(find(objs, 'PersistentVolumeClaim', claim)).toBeTruthy();
  });
});

describe('k8s/overlays/production against the base', () => {
  it('exposes the orchestrator only, and changes images, scaling and resources', async () => {
    const { base, production } = await rendered();
    const ingresses = byKind(production, 'Ingress');
    expect(ingresses).toHaveLength(1);
    const backends = ingresses[0]!.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => p.backend.service));
    expect(backends).toEqual([{ name: 'orchestrator', port: { name: 'http' } }]);
    expect(byKind(base, 'Ingress')).toHaveLength(0);
    for (const o of [...base, ...production])
      if (o.kind === 'Service') expect(o.spec.type ?? 'ClusterIP', o.metadata.name).toBe('ClusterIP');

    const image = (objs: Obj[], name: string) => find(objs, 'Deployment', name).spec.template.spec.containers[0].image;
    expect(image(base, 'orchestrator')).toBe('agentic-mesh:local');
    expect(image(production, 'orchestrator')).not.toBe('agentic-mesh:local');
    expect(image(production, 'orchestrator')).toMatch(/\/agentic-mesh:[^:]+$/);
    expect(find(production, 'CronJob', 'backup').spec.jobTemplate.spec.template.spec.containers[0].image).toMatch(
      /\/agentic-mesh-backup:[^:]+$/,
    );
    expect(find(production, 'HorizontalPodAutoscaler', 'orchestrator').spec.minReplicas).toBeGreaterThan(
      find(base, 'HorizontalPodAutoscaler', 'orchestrator').spec.minReplicas,
    );
    for (const name of agentNames) {
      // The patch changes the counts and keeps the trigger.
      const so = find(production, 'ScaledObject', name);
      expect(so.spec.maxReplicaCount).toBeGreaterThan(find(base, 'ScaledObject', name).spec.maxReplicaCount);
      expect(so.spec.triggers).toEqual(find(base, 'ScaledObject', name).spec.triggers);
    }
    const cpu = (objs: Obj[]) => find(objs, 'Deployment', 'orchestrator').spec.template.spec.containers[0].resources.requests.cpu;
    expect(cpu(production)).not.toBe(cpu(base));
  });
});
