import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { infrastructureAgent } from '../../../agents/infrastructure/index.ts';
import { imageRefProblem } from '../../../agents/infrastructure/compose-checks.ts';
import { cidrProblem } from '../../../agents/infrastructure/cdktf-checks.ts';
import type { TerraformRule, TerraformStack } from '../../../agents/infrastructure/cdktf.ts';
import { buildAgentApp, TaskFailedError } from '../../../agents/sdk/index.ts';
import { fakeContext } from '../../helpers/agent-context.ts';

type Service = {
  image: string;
  ports?: string[];
  healthcheck?: { test: string[] };
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  restart: string;
};
type Files = Array<{ path: string; content: string }>;

const run = (input: Record<string, unknown>, description?: string) => infrastructureAgent.execute(input, fakeContext({ description }));

// A real ed25519 public key line (type, base64 blob whose first field repeats the type, comment).
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@example';

describe('infrastructure agent: compose', () => {
  it('turns a redis task into a compose service with image, port, healthcheck and data volume', async () => {
    const out = await run({ task: 'deploy infrastructure for a redis cache' });
    expect(out.target).toBe('compose');
    expect(out.valid).toBe(true);
    expect(out.problems).toEqual([]);
    const service = out.service as Service & { name: string };
    expect(service.name).toBe('redis');
    expect(service.image).toMatch(/^redis:\d/);
    expect(service.ports).toEqual(['127.0.0.1:6379:6379']);
    expect(service.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(service.volumes).toEqual(['redis-data:/data']);
    expect(service.restart).toBe('unless-stopped');

    const [file] = out.files as Files;
    expect(file.path).toBe('compose/redis.yml');
    const parsed = parse(file.content) as { services: Record<string, Service>; volumes: Record<string, unknown> };
    expect(parsed).toEqual(out.compose);
    expect(parsed.volumes).toEqual({ 'redis-data': {} });
    // YAML 1.1 readers would turn a bare `yes` into true.
    expect(file.content).toContain('"yes"');
  });

  it('reads a monitoring stack as Prometheus and Grafana, an observability stack with Jaeger too, and "monitoring" alone as Prometheus', async () => {
    const names = async (task: string) => Object.keys(((await run({ task })).compose as { services: Record<string, unknown> }).services);
    expect(await names('Set up a monitoring stack')).toEqual(['prometheus', 'grafana']);
    expect(await names('deploy an observability stack')).toEqual(['prometheus', 'grafana', 'jaeger']);
    expect(await names('deploy monitoring')).toEqual(['prometheus']);
  });

  it('refuses a task for Kubernetes (or another orchestrator) instead of writing a Compose file it did not ask for', async () => {
    await expect(run({ task: 'deploy redis to kubernetes' })).rejects.toThrow(
      /infrastructure writes Docker Compose services and CDKTF droplet stacks, and this asks for kubernetes/,
    );
    expect(
      infrastructureAgent.check!({ task: 'Deploy the app with helm' }, { description: undefined, upstream: [], modelAvailable: true }),
    ).toMatchObject({
      verdict: 'refused',
      fix: expect.stringContaining('docs/KUBERNETES.md'),
    });
    // Said outright in the input, the service is written as asked.
    expect((await run({ task: 'deploy redis to kubernetes', service: { name: 'redis' } })).target).toBe('compose');
  });

  it('honours the name and port written in the task', async () => {
    const out = await run({ task: 'deploy a redis cache named sessions on port 6380' });
    const service = out.service as Service & { name: string };
    expect(service.name).toBe('sessions');
    expect(service.ports).toEqual(['127.0.0.1:6380:6379']);
    expect(service.volumes).toEqual(['sessions-data:/data']);
    expect((out.files as Files)[0].path).toBe('compose/sessions.yml');
  });

  it('puts an app first and makes it wait for the healthy data services it names', async () => {
    const out = await run({ task: 'Deploy a node app on port 8080 with postgres and redis' });
    expect(out.services).toEqual(['app', 'postgres', 'redis']);
    const app = out.service as Service;
    expect(app.ports).toEqual(['8080:8080']);
    expect(app.environment?.PORT).toBe('8080');
    expect(app.healthcheck?.test.join(' ')).toContain('127.0.0.1:8080/health');
    expect(app.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    const postgres = (out.compose as { services: Record<string, Service> }).services.postgres;
    // The password comes from the deployer's environment, never a default in the file.
    expect(postgres.environment?.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    expect(out.valid).toBe(true);
  });

  it('moves a derived port off one already taken, but reports a clash between ports the user chose', async () => {
    const derived = await run({ task: 'deploy a node app and grafana' });
    expect((derived.compose as { services: Record<string, Service> }).services.grafana.ports).toEqual(['3001:3000']);
    expect(derived.valid).toBe(true);

    const chosen = await run({ task: 'deploy nginx on port 8080 and a node app on port 8080' });
    expect(chosen.valid).toBe(false);
    expect(chosen.problems).toEqual(expect.arrayContaining([expect.stringMatching(/host port 8080 is already published/)]));
  });

  it('reports a bad port and a bad image as problems naming them, and still returns the file', async () => {
    const out = await run({ service: { name: 'api', image: 'Acme/API:latest', port: 70000 } });
    expect(out.valid).toBe(false);
    const problems = out.problems as string[];
    expect(problems.some((p) => p.includes('70000') && p.includes('1-65535'))).toBe(true);
    expect(problems.some((p) => p.includes('"Acme/API:latest"'))).toBe(true);
    expect((out.files as Files)[0].path).toBe('compose/api.yml');
    expect(out.summary).toMatch(/^Compose service api .*invalid \(2 problems/);
  });

  it('checks env names, depends_on targets, replicas on a fixed port and privileged mode', async () => {
    const input = {
      service: {
        name: 'worker',
        image: 'ghcr.io/acme/worker:1.4.2',
        port: 9000,
        env: { 'BAD-NAME': 'x', MODE: 'batch' },
        depends_on: ['postgres', 'ghost'],
        replicas: 3,
        privileged: true,
      },
    };
    const out = await run(input);
    const problems = (out.problems as string[]).join('\n');
    expect(problems).toContain('environment variable name "BAD-NAME"');
    expect(problems).toContain('depends_on "ghost" is not a service in this file');
    expect(problems).not.toContain('depends_on "postgres"');
    expect(problems).toContain('3 replicas cannot all publish fixed host port 9000');
    expect(problems).toContain('runs privileged, which was not asked for');
    expect(out.services).toEqual(['worker', 'postgres']);

    const allowed = await run({ ...input, allow: { privileged: true } });
    expect((allowed.problems as string[]).join('\n')).not.toContain('privileged');
  });

  it('falls back to the workflow description when the task text names nothing', async () => {
    const out = await run({ task: 'do the infrastructure part' }, 'An API with a postgres database');
    expect(out.services).toEqual(['postgres']);
  });

  it('fails the task, naming the known services, when nothing deployable is asked for', async () => {
    const error = await run({ task: 'make everything faster' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).code).toBe('AGENT_TASK_FAILED');
    expect((error as Error).message).toMatch(/redis, postgres.*node app/);
  });
});

describe('image reference syntax', () => {
  it.each(['redis', 'redis:7.4-alpine', 'ghcr.io/acme/api:1.2', 'localhost:5000/team/app', `postgres@sha256:${'a'.repeat(64)}`])(
    'accepts %s',
    (ref) => {
      expect(imageRefProblem(ref)).toBeUndefined();
    },
  );
  it.each(['Redis', 'redis:', 'redis:-x', 'a//b', 'redis:7 alpine', 'postgres@sha256:xyz'])('rejects %s', (ref) => {
    expect(imageRefProblem(ref)).toBeTypeOf('string');
  });
});

/** Every `${type.name.attr}` in the stack, read independently of the agent's own check. */
function references(stack: TerraformStack): Array<{ type: string; name: string; attr: string }> {
  const text = JSON.stringify({ resource: stack.resource, output: stack.output });
  return [...text.matchAll(/(?<!\$)\$\{([a-z_]+)\.([\w-]+)\.([a-z_]+)\}/g)].map(([, type, name, attr]) => ({ type, name, attr }));
}

describe('infrastructure agent: cdktf', () => {
  it('synthesizes a droplet, firewall and SSH key whose references all resolve', async () => {
    const out = await run({
      target: 'cdktf',
      droplet: { name: 'web-1', size: 's-2vcpu-4gb', region: 'fra1', admin_ip: '203.0.113.7', ssh_keys: [PUBLIC_KEY] },
    });
    expect(out.target).toBe('cdktf');
    expect(out.problems).toEqual([]);
    expect(out.valid).toBe(true);
    const [file] = out.files as Files;
    expect(file.path).toBe('terraform/cdk.tf.json');
    const stack = JSON.parse(file.content) as TerraformStack;
    expect(stack).toEqual(out.stack);
    expect(stack.terraform.required_providers.digitalocean.source).toBe('digitalocean/digitalocean');
    expect(out.resources).toEqual([
      'digitalocean_ssh_key.web-1-ssh-key-1',
      'digitalocean_droplet.web-1',
      'digitalocean_firewall.web-1-firewall',
    ]);

    const refs = references(stack);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) expect(stack.resource[ref.type]?.[ref.name], `${ref.type}.${ref.name}`).toBeDefined();
    expect(stack.resource.digitalocean_droplet['web-1'].ssh_keys).toEqual(['${digitalocean_ssh_key.web-1-ssh-key-1.fingerprint}']);
    expect(Object.values(out.key_fingerprints as Record<string, string>)[0]).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);

    const inbound = stack.resource.digitalocean_firewall['web-1-firewall'].inbound_rule as TerraformRule[];
    const byPort = new Map(inbound.map((r) => [r.port_range, r.source_addresses]));
    expect(byPort.get('22')).toEqual(['203.0.113.7/32']);
    expect(byPort.get('80')).toEqual(['0.0.0.0/0', '::/0']);
    expect(byPort.get('443')).toEqual(['0.0.0.0/0', '::/0']);
    expect(inbound).toHaveLength(3);
  });

  it('keeps SSH closed when no admin address is given', async () => {
    const out = await run({ task: 'provision a droplet with terraform' });
    const stack = out.stack as TerraformStack;
    const inbound = Object.values(stack.resource.digitalocean_firewall)[0].inbound_rule as TerraformRule[];
    expect(inbound.map((r) => r.port_range)).toEqual(['80', '443']);
    expect((out.warnings as string[]).join('\n')).toContain('SSH (22) is closed');
  });

  it('reports bad slugs, a CIDR with host bits, SSH open to the world and a corrupt key', async () => {
    const corrupt = PUBLIC_KEY.replace('ssh-ed25519 AAAAC3', 'ssh-rsa AAAAC3');
    const out = await run({
      target: 'cdktf',
      droplet: { name: 'db', size: 'huge', region: 'mars', admin_ip: '10.0.0.1/8', ssh_keys: [corrupt, 'zz:11'] },
    });
    expect(out.valid).toBe(false);
    const problems = (out.problems as string[]).join('\n');
    expect(problems).toContain('size "huge"');
    expect(problems).toContain('region "mars"');
    expect(problems).toContain('"10.0.0.1/8" has host bits set; the network is 10.0.0.0/8');
    expect(problems).toContain('public key says ssh-rsa but its body encodes "ssh-ed25519"');
    expect(problems).toContain('ssh_keys entry "zz:11"');

    const world = await run({ target: 'cdktf', droplet: { admin_ip: '0.0.0.0/0' } });
    expect((world.problems as string[]).join('\n')).toContain('opens SSH (22) to the whole internet');
  });

  it('reads the droplet from task text and starts the named service on it with escaped interpolation', async () => {
    const out = await run({ task: 'provision a droplet named db-1 in ams3 size s-1vcpu-2gb running postgres; admin ip 198.51.100.4' });
    expect(out.valid).toBe(true);
    const stack = out.stack as TerraformStack;
    const droplet = stack.resource.digitalocean_droplet['db-1'];
    expect(droplet).toMatchObject({ name: 'db-1', region: 'ams3', size: 's-1vcpu-2gb' });
    const userData = String(droplet.user_data);
    expect(userData.startsWith('#cloud-config\n')).toBe(true);
    expect(userData).toContain('image: postgres:');
    // Terraform would try to interpolate a bare ${...}; compose's own variables must reach the droplet as written.
    expect(userData).toContain('$${POSTGRES_PASSWORD:?');
    expect(userData).not.toMatch(/(?<!\$)\$\{POSTGRES/);
    expect((out.files as Files).map((f) => f.path)).toEqual(['terraform/cdk.tf.json', 'compose/postgres.yml']);
  });

  it.each([
    ['203.0.113.0/24', undefined],
    ['2001:db8::/32', undefined],
    ['203.0.113.7/33', 'outside 0-32'],
    ['300.1.1.1', 'not an IP address'],
  ])('CIDR %s', (cidr, problem) => {
    const result = cidrProblem(cidr);
    if (problem === undefined) expect(result).toBeUndefined();
    else expect(result).toContain(problem);
  });
});

describe('infrastructure agent over HTTP', () => {
  it('runs behind the agent app and rejects input that breaks its schema', async () => {
    const app = buildAgentApp(infrastructureAgent, { logLevel: 'silent' });
    onTestFinished(() => app.close());
    const body = (input: unknown, key: string) => ({ idempotency_key: key, task_id: 't', step_id: 's', attempt: 1, input });
    const ok = await app.inject({ method: 'POST', url: '/execute', payload: body({ task: 'deploy a rabbitmq queue' }, 'k1') });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().output.service.image).toMatch(/^rabbitmq:/);
    const bad = await app.inject({ method: 'POST', url: '/execute', payload: body({ target: 'kubernetes' }, 'k2') });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('AGENT_INPUT_INVALID');
  });
});
