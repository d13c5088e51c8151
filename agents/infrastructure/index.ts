import { Type } from 'typebox';
import { fallbackReason, NO_MODEL_CONFIGURED } from '../../services/llm/index.ts';
import { defineAgent, TaskFailedError, type AgentContext, type AgentOutput } from '../sdk/index.ts';
import { knownServiceNames } from './catalog.ts';
import { buildStack, cloudInitForCompose, logicalId, type DropletInput } from './cdktf.ts';
import { checkStack } from './cdktf-checks.ts';
import { buildCompose, plansFromInput, plansFromTask, toYaml, type ServiceInput, type ServicePlan } from './compose.ts';
import { checkCompose, type ComposeDocument } from './compose-checks.ts';
import { proposeService, type Proposal } from './llm-service.ts';
import { readTask, type TaskRequest } from './task-text.ts';
import { checkInfrastructure, otherPlatformRefusal } from './check.ts';

export interface InfrastructureInput {
  target?: 'compose' | 'cdktf';
  service?: ServiceInput;
  droplet?: DropletInput;
  /** Explicit consent for settings the checks otherwise reject. */
  allow?: { privileged?: boolean; host_network?: boolean };
  task?: string;
}

const open = { additionalProperties: true };
const ServiceSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1 })),
    image: Type.Optional(Type.String()),
    port: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    env: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
    volumes: Type.Optional(Type.Array(Type.String())),
    command: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
    depends_on: Type.Optional(Type.Array(Type.String())),
    healthcheck: Type.Optional(
      Type.Union([
        Type.String(),
        Type.Array(Type.String()),
        Type.Literal(false),
        Type.Object(
          {
            test: Type.Union([Type.String(), Type.Array(Type.String())]),
            interval: Type.Optional(Type.String()),
            timeout: Type.Optional(Type.String()),
            retries: Type.Optional(Type.Number()),
            start_period: Type.Optional(Type.String()),
          },
          open,
        ),
      ]),
    ),
    replicas: Type.Optional(Type.Number()),
    privileged: Type.Optional(Type.Boolean()),
    network_mode: Type.Optional(Type.String()),
  },
  open,
);

export const InfrastructureInputSchema = Type.Object(
  {
    target: Type.Optional(Type.Union([Type.Literal('compose'), Type.Literal('cdktf')])),
    service: Type.Optional(ServiceSchema),
    droplet: Type.Optional(
      Type.Object(
        {
          name: Type.Optional(Type.String()),
          size: Type.Optional(Type.String()),
          region: Type.Optional(Type.String()),
          image: Type.Optional(Type.String()),
          ssh_keys: Type.Optional(Type.Array(Type.String())),
          admin_ip: Type.Optional(Type.String()),
        },
        open,
      ),
    ),
    allow: Type.Optional(Type.Object({ privileged: Type.Optional(Type.Boolean()), host_network: Type.Optional(Type.Boolean()) }, open)),
    task: Type.Optional(Type.String()),
  },
  open,
);

const NO_MODEL_NEEDED = Object.freeze({ used: false, reason: 'the request named what to deploy; the catalog and checks need no model' });

function unusable(): TaskFailedError {
  return new TaskFailedError(
    `nothing to deploy: name a known service (${knownServiceNames.join(', ')}), an image ("image ghcr.io/org/app:1.0"), ` +
      'a droplet / terraform stack, or pass input.service or input.droplet',
    { knownServices: knownServiceNames },
  );
}

/** The task text if it asks for something, else the workflow description. */
function readRequest(input: InfrastructureInput, ctx: AgentContext): TaskRequest {
  const fromTask = readTask(input.task ?? '');
  const asksSomething = (r: TaskRequest): boolean => r.services.length > 0 || r.image !== undefined || r.wantsCdktf;
  if (asksSomething(fromTask) || !ctx.description) return fromTask;
  const fromDescription = readTask(ctx.description);
  return asksSomething(fromDescription) ? fromDescription : fromTask;
}

function servicePlans(input: InfrastructureInput, request: TaskRequest): ServicePlan[] {
  return input.service ? plansFromInput(input.service) : plansFromTask(request);
}

function composeReport(
  plans: ServicePlan[],
  input: InfrastructureInput,
  request: TaskRequest,
): { doc: ComposeDocument; yaml: string; problems: string[]; warnings: string[] } {
  const doc = buildCompose(plans, { publicPorts: request.publicPorts });
  const { problems, warnings } = checkCompose(doc, {
    privileged: request.allowPrivileged || input.allow?.privileged === true,
    hostNetwork: request.allowHostNetwork || input.allow?.host_network === true,
  });
  for (const plan of plans) {
    if (!plan.known && !plan.input.image)
      problems.unshift(`service "${plan.name}": no image given and it is not a known service (${knownServiceNames.join(', ')})`);
  }
  return { doc, yaml: toYaml(doc), problems, warnings };
}

const verdict = (problems: string[]): string =>
  problems.length === 0 ? 'valid' : `invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems[0]})`;

function composeOutput(input: InfrastructureInput, request: TaskRequest): AgentOutput {
  const plans = servicePlans(input, request);
  if (plans.length === 0) throw unusable();
  const { doc, yaml, problems, warnings } = composeReport(plans, input, request);
  const primary = plans[0].name;
  const service = doc.services[primary];
  const extras =
    plans.length > 1
      ? ` plus ${plans
          .slice(1)
          .map((p) => p.name)
          .join(', ')}`
      : '';
  const details = [
    service.image,
    ...(service.ports ?? []),
    service.healthcheck ? 'healthcheck' : 'no healthcheck',
    ...(service.volumes ?? []),
  ].join(', ');
  return {
    target: 'compose',
    valid: problems.length === 0,
    problems,
    warnings,
    files: [{ path: `compose/${logicalId(primary)}.yml`, content: yaml }],
    service: { name: primary, ...service },
    services: Object.keys(doc.services),
    compose: doc,
    summary: `Compose service ${primary} (${details})${extras}: ${verdict(problems)}`,
  };
}

function cdktfOutput(input: InfrastructureInput, request: TaskRequest): AgentOutput {
  const plans = servicePlans(input, request);
  const droplet: DropletInput = { ...request.droplet, ...input.droplet };
  const name = droplet.name ?? (plans[0] ? `${plans[0].name}-server` : 'app-server');
  const files: Array<{ path: string; content: string }> = [];
  const problems: string[] = [];
  const warnings: string[] = [];

  // A service asked for alongside the droplet is started on it with compose at first boot.
  let userData: string | undefined;
  if (plans.length > 0) {
    const compose = composeReport(plans, input, request);
    problems.push(...compose.problems.map((p) => `compose: ${p}`));
    warnings.push(...compose.warnings.map((w) => `compose: ${w}`));
    const secrets = compose.yaml.match(/\$\{([A-Za-z_][A-Za-z0-9_]*):\?/g)?.map((m) => m.slice(2, -2)) ?? [];
    if (secrets.length > 0)
      warnings.push(`set ${[...new Set(secrets)].join(', ')} in /opt/${logicalId(name)}/.env on the droplet before compose can start`);
    userData = cloudInitForCompose(logicalId(name), compose.yaml);
    files.push({ path: `compose/${logicalId(plans[0].name)}.yml`, content: compose.yaml });
  }

  const stack = buildStack({ ...droplet, name }, { stackName: logicalId(name), ...(userData ? { userData } : {}) });
  const checks = checkStack(stack);
  problems.unshift(...checks.problems);
  warnings.unshift(...checks.warnings);
  files.unshift({ path: 'terraform/cdk.tf.json', content: `${JSON.stringify(stack, null, 2)}\n` });
  const resources = Object.entries(stack.resource).flatMap(([type, byId]) => Object.keys(byId).map((id) => `${type}.${id}`));
  const dropletResource = Object.values(stack.resource.digitalocean_droplet)[0];
  const ssh = droplet.admin_ip ? `SSH from ${droplet.admin_ip} only` : 'SSH closed';
  return {
    target: 'cdktf',
    valid: problems.length === 0,
    problems,
    warnings,
    files,
    resources,
    stack,
    key_fingerprints: checks.keyFingerprints,
    ...(plans.length > 0 ? { services: plans.map((p) => p.name) } : {}),
    summary:
      `CDKTF stack: droplet ${name} (${String(dropletResource.size)}, ${String(dropletResource.region)}, ${String(dropletResource.image)}), ` +
      `firewall with ${ssh} and 80/443 public${plans.length > 0 ? `, running ${plans.map((p) => p.name).join(', ')} via compose` : ''}: ${verdict(problems)}`,
  };
}

export const infrastructureAgent = defineAgent<InfrastructureInput>({
  name: 'infrastructure',
  description:
    'Writes and validates deployment config offline: a Docker Compose service for a known service or image, or the ' +
    'Terraform JSON a CDKTF app synthesizes for a DigitalOcean droplet with firewall and SSH keys.',
  capabilities: [
    'deploy infrastructure',
    'provision server',
    'provision infrastructure',
    'docker compose service',
    'compose file',
    'container',
    'deploy service',
    'terraform',
    'cdktf',
    'digitalocean droplet',
    'droplet',
    'firewall',
    'database',
    'cache',
    'message queue',
    'monitoring stack',
    'redis',
    'postgres',
  ],
  inputSchema: InfrastructureInputSchema,
  outputs: ['files:config', 'summary'],
  check: checkInfrastructure,
  async execute(input, ctx) {
    ctx.signal.throwIfAborted();
    const elsewhere = otherPlatformRefusal(input, input.task ?? ctx.description);
    if (elsewhere) throw new TaskFailedError(`${elsewhere.reason}: ${elsewhere.fix}`);
    const request = readRequest(input, ctx);
    const target = input.target ?? (input.droplet || (request.wantsCdktf && !request.wantsCompose) ? 'cdktf' : 'compose');
    if (target === 'cdktf') return { ...cdktfOutput(input, request), llm: NO_MODEL_NEEDED };
    if (input.service || request.services.length > 0 || request.image)
      return { ...composeOutput(input, request), llm: ctx.llm.available ? NO_MODEL_NEEDED : NO_MODEL_CONFIGURED };
    // Nothing the catalog knows: a model may propose the service, which the same checks then judge.
    if (!ctx.llm.available) throw unusable();
    const task = [input.task, ctx.description].find((t) => t !== undefined && t.trim() !== '') ?? '';
    let proposal: Proposal;
    try {
      proposal = await proposeService(ctx.llm, task, ctx.signal, (text) => ctx.progress({ text }));
    } catch (err) {
      const reason = fallbackReason(err, ctx.signal);
      throw new TaskFailedError(`${unusable().message}; the model could not propose one either (${reason})`);
    }
    const output = composeOutput({ ...input, service: proposal }, request);
    return { ...output, proposed_by_model: proposal, llm: { used: true, model: ctx.llm.model ?? 'unknown' } };
  },
});
