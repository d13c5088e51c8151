// A double of `terraform` (with the DigitalOcean provider) for scripts/deploy_to_do.sh, run as
// `node tests/doubles/terraform-droplet.ts -chdir=DIR init|apply|output -raw NAME|destroy`; the
// docker deploy test puts it on PATH as `terraform`. It reads the stack the real `npm run synth`
// wrote (DIR/cdk.tf.json) and, where Terraform would create the droplet through DigitalOcean's
// API, hands that stack's user_data and SSH key to an already running droplet stand-in container
// (tests/standins/droplet) as a NoCloud seed, which is what the droplet's cloud-init reads.
//
// What differs from terraform: no provider, no plan, no firewall, bucket, tag or key created; the
// droplet's address is DROPLET_DOUBLE_ADDRESS (where the container's ports are published), not a
// public IP. It evaluates only the expressions the stack uses (var.X, sha1, substr, references to
// the droplet's address and the bucket's name) and fails on any other, so a change to the stack
// shows here instead of being guessed at. As with the real stack (lifecycle ignore_changes on
// user_data), a second apply changes nothing.
//
// Environment: DROPLET_DOUBLE_CONTAINER (the droplet container), DROPLET_DOUBLE_ADDRESS,
// DROPLET_DOUBLE_STATE (a file: the double's state, like terraform.tfstate), and what the real
// terraform reads: TF_VAR_*, DIGITALOCEAN_TOKEN, SPACES_ACCESS_KEY_ID, SPACES_SECRET_ACCESS_KEY.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Stack {
  variable: Record<string, { default?: unknown }>;
  resource: Record<string, Record<string, Record<string, unknown>>>;
  output: Record<string, { value: string }>;
}
interface State {
  instanceId: string;
  attributes: Record<string, string>;
}

function fail(message: string): never {
  process.stderr.write(`Error: ${message}\n`);
  process.exit(1);
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) fail(`terraform double: ${name} is not set`);
  return value;
}

function variables(stack: Stack): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, declaration] of Object.entries(stack.variable)) {
    const given = process.env[`TF_VAR_${name}`];
    if (given !== undefined) values[name] = given;
    else if (declaration.default !== undefined) values[name] = String(declaration.default);
    else fail(`No value for required variable "${name}" (set TF_VAR_${name}; -input=false)`);
  }
  return values;
}

/** One `${...}` expression: a reference, or sha1/substr of one. */
function evaluate(expression: string, scope: Record<string, string>): string {
  const call = /^(\w+)\((.*)\)$/.exec(expression.trim());
  if (call) {
    const args = splitArgs(call[2]).map((arg) => (/^\d+$/.test(arg) ? arg : evaluate(arg, scope)));
    if (call[1] === 'sha1') return createHash('sha1').update(args[0]).digest('hex');
    if (call[1] === 'substr') return args[0].substr(Number(args[1]), Number(args[2]));
    fail(`terraform double: cannot evaluate function ${call[1]}() in \${${expression}}`);
  }
  const value = scope[expression.trim()];
  if (value === undefined) fail(`terraform double: cannot evaluate \${${expression}}`);
  return value;
}

function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === ',' && depth === 0) {
      args.push(current.trim());
      current = '';
      continue;
    }
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    current += ch;
  }
  if (current.trim()) args.push(current.trim());
  return args;
}

/** A Terraform string: `${...}` evaluated, `$${` and `%%{` (escaped by cloud-init.ts) made literal. */
function interpolate(template: string, scope: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < template.length;) {
    if (template.startsWith('$${', i) || template.startsWith('%%{', i)) {
      out += template[i] + '{';
      i += 3;
    } else if (template.startsWith('${', i)) {
      let depth = 1;
      let j = i + 2;
      for (; j < template.length && depth > 0; j++) {
        if (template[j] === '{') depth++;
        if (template[j] === '}') depth--;
      }
      out += evaluate(template.slice(i + 2, j - 1), scope);
      i = j;
    } else if (template.startsWith('%{', i)) {
      fail('terraform double: template directives (%{...}) are not supported');
    } else {
      out += template[i++];
    }
  }
  return out;
}

function only(stack: Stack, type: string): [string, Record<string, unknown>] {
  const entries = Object.entries(stack.resource[type] ?? {});
  if (entries.length !== 1) fail(`terraform double: expected one ${type}, the stack has ${entries.length}`);
  return entries[0];
}

function scopeOf(stack: Stack, state: State | undefined): Record<string, string> {
  const scope: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables(stack))) scope[`var.${name}`] = value;
  Object.assign(scope, state?.attributes);
  return scope;
}

/** What DigitalOcean's API does on create: the droplet boots with this user_data and key. */
function createDroplet(userData: string, publicKey: string, hostname: string): string {
  const container = env('DROPLET_DOUBLE_CONTAINER');
  const instanceId = `droplet-double-${randomBytes(6).toString('hex')}`;
  const metaData = `instance-id: ${instanceId}\nlocal-hostname: ${hostname}\npublic-keys:\n  - ${JSON.stringify(publicKey)}\n`;
  const seed = '/var/lib/cloud/seed/nocloud';
  // meta-data last, by rename: droplet-boot starts cloud-init once both files are there.
  const write = (name: string, content: string) =>
    execFileSync(
      'docker',
      ['exec', '-i', container, 'sh', '-c', `mkdir -p ${seed} && cat > ${seed}/.${name} && mv ${seed}/.${name} ${seed}/${name}`],
      {
        input: content,
        stdio: ['pipe', 'inherit', 'inherit'],
      },
    );
  write('user-data', userData);
  write('meta-data', metaData);
  return instanceId;
}

function apply(dir: string, statePath: string): void {
  for (const name of ['DIGITALOCEAN_TOKEN', 'SPACES_ACCESS_KEY_ID', 'SPACES_SECRET_ACCESS_KEY']) env(name);
  const stack = readStack(dir);
  const existing = readState(statePath);
  if (existing) {
    console.log('No changes. Your infrastructure matches the configuration.');
    console.log('\nApply complete! Resources: 0 added, 0 changed, 0 destroyed.');
    return;
  }
  const scope = scopeOf(stack, undefined);
  const [dropletId, droplet] = only(stack, 'digitalocean_droplet');
  const [bucketId, bucket] = only(stack, 'digitalocean_spaces_bucket');
  const hostname = interpolate(String(droplet.name), scope);
  const instanceId = createDroplet(interpolate(String(droplet.user_data), scope), scope['var.ssh_public_key'], hostname);
  const state: State = {
    instanceId,
    attributes: {
      [`digitalocean_droplet.${dropletId}.ipv4_address`]: env('DROPLET_DOUBLE_ADDRESS'),
      [`digitalocean_spaces_bucket.${bucketId}.name`]: interpolate(String(bucket.name), scope),
    },
  };
  writeFileSync(statePath, JSON.stringify(state, null, 2));
  console.log(`digitalocean_droplet.${dropletId}: Creation complete [id=${instanceId}]`);
  console.log('\nApply complete! Resources: 6 added, 0 changed, 0 destroyed.');
}

function output(dir: string, statePath: string, name: string): void {
  const stack = readStack(dir);
  const state = readState(statePath);
  const declared = stack.output[name];
  if (!declared) fail(`Output "${name}" not found`);
  if (!state) fail('No outputs found: the state is empty (run terraform apply)');
  process.stdout.write(interpolate(declared.value, scopeOf(stack, state)));
}

function readStack(dir: string): Stack {
  const file = join(dir, 'cdk.tf.json');
  if (!existsSync(file)) fail(`terraform double: ${file} does not exist (run npm run synth)`);
  return JSON.parse(readFileSync(file, 'utf8')) as Stack;
}

function readState(path: string): State | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as State) : undefined;
}

function main(argv: string[]): void {
  let dir = '.';
  const args: string[] = [];
  for (const arg of argv) {
    if (arg.startsWith('-chdir=')) dir = arg.slice('-chdir='.length);
    else args.push(arg);
  }
  const statePath = env('DROPLET_DOUBLE_STATE');
  switch (args[0]) {
    case 'init':
      readStack(dir);
      console.log('Terraform has been successfully initialized!');
      return;
    case 'apply':
      return apply(dir, statePath);
    case 'output':
      if (args[1] !== '-raw' || !args[2]) fail('terraform double: only `output -raw NAME` is supported');
      return output(dir, statePath, args[2]);
    default:
      process.stderr.write(`terraform double: unsupported command: ${argv.join(' ')}\n`);
      process.exit(2);
  }
}

main(process.argv.slice(2));
