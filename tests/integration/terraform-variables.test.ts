import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Testing } from 'cdktf';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDropletStack } from '../../terraform/droplet-stack.ts';

// The real terraform CLI evaluates the stack's variable validations and variable-only expressions.
// The DigitalOcean provider cannot be installed here (no registry), so resources are left out and
// init needs no network: the variables, and outputs built from them, are all that is evaluated.
const terraform = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v terraform || command -v tofu'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

const run = promisify(execFile);
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop';
const GOOD = { admin_ip: '203.0.113.7', ssh_public_key: KEY, domain: 'mesh.example.com' };

interface Stack {
  variable: Record<string, unknown>;
  output: Record<string, { value: string }>;
  resource: { digitalocean_spaces_bucket: Record<string, { name: string }> };
}

describe.skipIf(!terraform)(`droplet stack variables, evaluated by ${terraform ?? 'terraform (not installed: skipped)'}`, () => {
  let dir: string;
  // No version check call home, no plugin cache outside the test's folder.
  const env = () => ({
    PATH: process.env.PATH ?? '',
    HOME: dir,
    CHECKPOINT_DISABLE: '1',
    TF_IN_AUTOMATION: '1',
    TF_DATA_DIR: join(dir, '.terraform'),
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `am-tfvars-${Math.random().toString(36).slice(2, 8)}-`));
    const outdir = join(dir, 'synth');
    const stack = JSON.parse(Testing.synth(buildDropletStack(Testing.app({ outdir })))) as Stack;
    const variableOnly = Object.fromEntries(Object.entries(stack.output).filter(([, o]) => !/\$\{(?!var\.)/.test(o.value)));
    const bucketName = Object.values(stack.resource.digitalocean_spaces_bucket)[0]!.name;
    writeFileSync(
      join(dir, 'main.tf.json'),
      JSON.stringify({ variable: stack.variable, output: { ...variableOnly, bucket_name: { value: bucketName } } }, null, 2),
    );
    await run(terraform!, ['init', '-input=false', '-no-color'], { cwd: dir, env: env(), timeout: 60_000 });
    return () => rmSync(dir, { recursive: true, force: true });
  });

  async function apply(
    vars: Record<string, string>,
  ): Promise<{ ok: true; outputs: Record<string, { value: unknown }> } | { ok: false; error: string }> {
    const state = join(dir, `${Math.random().toString(36).slice(2)}.tfstate`);
    const args = ['apply', '-auto-approve', '-input=false', '-no-color', '-lock=false', `-state=${state}`];
    for (const [k, v] of Object.entries(vars)) args.push('-var', `${k}=${v}`);
    try {
      await run(terraform!, args, { cwd: dir, env: env(), timeout: 60_000 });
    } catch (err) {
      return { ok: false, error: String((err as { stderr?: string }).stderr ?? err) };
    }
    const { stdout } = await run(terraform!, ['output', '-json', `-state=${state}`], { cwd: dir, env: env(), timeout: 60_000 });
    return { ok: true, outputs: JSON.parse(stdout) as Record<string, { value: unknown }> };
  }

  it('accepts an address or CIDR, IPv4 or IPv6, and derives the URLs and a valid Spaces bucket name', async () => {
    for (const adminIp of ['203.0.113.7', '203.0.113.0/28', '2001:db8::1', '2001:db8::/64']) {
      const result = await apply({ ...GOOD, admin_ip: adminIp });
      expect(result, adminIp).toMatchObject({ ok: true });
    }
    const result = await apply({ ...GOOD, extra_inbound_ports: '[3000, 9090]' });
    if (!result.ok) throw new Error(result.error);
    expect(result.outputs.api_url!.value).toBe('https://mesh.example.com');
    expect(result.outputs.spaces_endpoint!.value).toBe('https://nyc3.digitaloceanspaces.com');
    // Spaces follows S3's bucket rules: 3-63 lowercase letters, digits and hyphens.
    expect(result.outputs.bucket_name!.value).toMatch(/^agentic-mesh-backups-[0-9a-f]{8}$/);
    const other = await apply({ ...GOOD, domain: 'other.example.com' });
    if (!other.ok) throw new Error(other.error);
    expect(other.outputs.bucket_name!.value).not.toBe(result.outputs.bucket_name!.value);
  });

  it.each([
    ['admin_ip', '0.0.0.0/0', /never open to everyone/],
    ['admin_ip', '::/0', /never open to everyone/],
    ['admin_ip', 'my-laptop', /IPv4 or IPv6 address or CIDR/],
    ['admin_ip', '203.0.113.7/33', /IPv4 or IPv6 address or CIDR/],
    ['ssh_public_key', '~/.ssh/id_ed25519.pub', /public key line/],
    ['domain', 'https://mesh.example.com', /lowercase host name/],
    ['extra_inbound_ports', '[70000]', /between 1 and 65535/],
    ['name', 'Agentic_Mesh', /lowercase letters/],
  ])('refuses %s = %s', async (name, value, message) => {
    const result = await apply({ ...GOOD, [name]: value });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.replace(/\s*│\s*/g, ' ')).toMatch(message);
  });

  it('refuses to run without the required variables instead of prompting', async () => {
    const result = await apply({});
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(/No value for required variable/);
  });
});
