// What the agent knows about well-known services: the image to run, the port it listens on, how
// to tell it is healthy and where it keeps data. This is knowledge used to build a definition, not
// output: names, ports, env and replicas asked for in the input override it.

export type HealthTest = string[];

export interface KnownService {
  /** Default service name; also the key the task text is matched on. */
  key: string;
  /** Words in the task text that mean this service. */
  aliases: string[];
  /** Vaguer words ("cache", "database") that pick this service only when nothing specific matched. */
  generic: string[];
  /** 'app' services depend on the data services deployed beside them. */
  kind: 'app' | 'data' | 'observability' | 'proxy';
  image: string;
  port: number;
  /** Ports published beside the main one, e.g. a management UI. */
  extraPorts: number[];
  /** Built from the container port, since some checks probe it. */
  healthcheck: (port: number) => HealthTest;
  dataPath?: string;
  env: Record<string, string>;
  command?: string[];
  workingDir?: string;
}

// Secrets are interpolated from the deployer's environment with `:?` so compose refuses to start
// without them, instead of shipping a default password in the file.
const required = (name: string): string => `\${${name}:?set ${name} in the environment}`;

const wget = (port: number, path: string): HealthTest => ['CMD', 'wget', '-q', '--spider', `http://127.0.0.1:${port}${path}`];

export const knownServices: readonly KnownService[] = [
  {
    key: 'redis',
    aliases: ['redis'],
    generic: ['cache', 'key-value store'],
    kind: 'data',
    image: 'redis:7.4-alpine',
    port: 6379,
    extraPorts: [],
    healthcheck: () => ['CMD', 'redis-cli', 'ping'],
    dataPath: '/data',
    env: {},
    command: ['redis-server', '--appendonly', 'yes'],
  },
  {
    key: 'postgres',
    aliases: ['postgres', 'postgresql', 'pg'],
    generic: ['database', 'db', 'sql database'],
    kind: 'data',
    image: 'postgres:17-alpine',
    port: 5432,
    extraPorts: [],
    // `$$` is compose's escape for a literal `$`: the shell inside the container expands it.
    healthcheck: () => ['CMD-SHELL', 'pg_isready -U "$${POSTGRES_USER:-postgres}"'],
    dataPath: '/var/lib/postgresql/data',
    env: { POSTGRES_USER: 'postgres', POSTGRES_PASSWORD: required('POSTGRES_PASSWORD') },
  },
  {
    key: 'mysql',
    aliases: ['mysql', 'mariadb'],
    generic: [],
    kind: 'data',
    image: 'mysql:8.4',
    port: 3306,
    extraPorts: [],
    healthcheck: () => ['CMD', 'mysqladmin', 'ping', '-h', '127.0.0.1'],
    dataPath: '/var/lib/mysql',
    env: { MYSQL_ROOT_PASSWORD: required('MYSQL_ROOT_PASSWORD') },
  },
  {
    key: 'mongodb',
    aliases: ['mongodb', 'mongo'],
    generic: ['document store'],
    kind: 'data',
    image: 'mongo:8.0',
    port: 27017,
    extraPorts: [],
    healthcheck: () => ['CMD', 'mongosh', '--quiet', '--eval', "db.adminCommand('ping').ok"],
    dataPath: '/data/db',
    env: {},
  },
  {
    key: 'rabbitmq',
    aliases: ['rabbitmq', 'rabbit'],
    generic: ['message queue', 'message broker', 'queue', 'broker', 'amqp'],
    kind: 'data',
    image: 'rabbitmq:4.0-management-alpine',
    port: 5672,
    extraPorts: [15672],
    healthcheck: () => ['CMD', 'rabbitmq-diagnostics', '-q', 'ping'],
    dataPath: '/var/lib/rabbitmq',
    env: {},
  },
  {
    key: 'consul',
    aliases: ['consul'],
    generic: ['service discovery', 'service registry'],
    kind: 'data',
    image: 'hashicorp/consul:1.20',
    port: 8500,
    extraPorts: [],
    healthcheck: () => ['CMD', 'consul', 'members'],
    dataPath: '/consul/data',
    env: {},
    command: ['agent', '-server', '-bootstrap-expect=1', '-ui', '-client=0.0.0.0', '-data-dir=/consul/data'],
  },
  {
    key: 'nginx',
    aliases: ['nginx'],
    generic: ['web server', 'reverse proxy', 'load balancer', 'proxy'],
    kind: 'proxy',
    image: 'nginx:1.27-alpine',
    port: 80,
    extraPorts: [],
    healthcheck: (port) => wget(port, '/'),
    env: {},
  },
  {
    key: 'app',
    aliases: [
      'node app',
      'node.js app',
      'nodejs app',
      'node service',
      'node.js service',
      'node api',
      'node server',
      'express app',
      'fastify app',
      'node',
    ],
    generic: ['web app', 'api server', 'backend'],
    kind: 'app',
    image: 'node:24-alpine',
    port: 3000,
    extraPorts: [],
    // No curl in node:alpine; Node itself can probe its own health route.
    healthcheck: (port) => [
      'CMD',
      'node',
      '-e',
      `fetch('http://127.0.0.1:${port}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
    ],
    env: { NODE_ENV: 'production', PORT: '3000' },
    command: ['node', 'server.js'],
    workingDir: '/app',
  },
  {
    key: 'prometheus',
    aliases: ['prometheus'],
    generic: ['metrics', 'monitoring', 'observability stack'],
    kind: 'observability',
    image: 'prom/prometheus:v3.2.1',
    port: 9090,
    extraPorts: [],
    healthcheck: (port) => wget(port, '/-/healthy'),
    dataPath: '/prometheus',
    env: {},
  },
  {
    key: 'grafana',
    aliases: ['grafana'],
    // A monitoring stack is metrics and their dashboards, not the metrics alone.
    generic: ['dashboards', 'dashboard', 'monitoring stack', 'observability stack'],
    kind: 'observability',
    image: 'grafana/grafana:11.5.2',
    port: 3000,
    extraPorts: [],
    healthcheck: (port) => wget(port, '/api/health'),
    dataPath: '/var/lib/grafana',
    env: { GF_SECURITY_ADMIN_PASSWORD: required('GF_SECURITY_ADMIN_PASSWORD') },
  },
  {
    key: 'jaeger',
    aliases: ['jaeger'],
    generic: ['tracing', 'traces', 'observability stack'],
    kind: 'observability',
    image: 'jaegertracing/all-in-one:1.65.0',
    port: 16686,
    extraPorts: [4317, 4318],
    // The admin port answers health checks whatever the UI port is published as.
    healthcheck: () => wget(14269, '/'),
    env: { COLLECTOR_OTLP_ENABLED: 'true' },
  },
];

/** How the services are named to people, e.g. in the error for a task that asks for none. */
export const knownServiceNames = knownServices.map((s) => s.aliases[0]);

export function findKnownService(nameOrImage: string): KnownService | undefined {
  const lowered = nameOrImage.toLowerCase();
  const byName = knownServices.find((s) => s.key === lowered || s.aliases.includes(lowered));
  if (byName) return byName;
  // An image like "docker.io/library/redis:7" or "bitnami/redis" still tells us what runs.
  const repo =
    lowered
      .split('@')[0]
      .replace(/:[^/]*$/, '')
      .split('/')
      .at(-1) ?? '';
  return knownServices.find(
    (s) => s.kind !== 'app' && (s.key === repo || s.aliases.includes(repo) || s.image.split(':')[0].split('/').at(-1) === repo),
  );
}
