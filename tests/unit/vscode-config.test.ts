import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, globSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtInAgentNames } from '../../agents/index.ts';

// The .vscode files are plain JSON (no comments), so JSON.parse is the whole parser and a
// stray comment fails here rather than in someone's editor.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const VSCODE = join(ROOT, '.vscode');

type Json = Record<string, any>;
const read = (name: string): Json => JSON.parse(readFileSync(join(VSCODE, name), 'utf8'));

/** Every string anywhere in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

const workspacePath = (s: string) => s.replace('${workspaceFolder}', ROOT);

describe('.vscode', () => {
  it('holds the four files, each plain JSON', () => {
    expect(readdirSync(VSCODE).sort()).toEqual(['extensions.json', 'launch.json', 'settings.json', 'tasks.json']);
    for (const name of readdirSync(VSCODE)) expect(() => read(name), name).not.toThrow();
  });

  it('every ${workspaceFolder} path exists', () => {
    const referenced = readdirSync(VSCODE).flatMap((name) => strings(read(name)).filter((s) => s.startsWith('${workspaceFolder}/')));
    expect(referenced.length).toBeGreaterThan(5);
    for (const ref of referenced) expect(existsSync(workspacePath(ref)), ref).toBe(true);
  });

  it('every ${input:...} is defined in its file, and every input is used', () => {
    for (const name of ['tasks.json', 'launch.json']) {
      const file = read(name);
      const used = new Set(strings(file).flatMap((s) => [...s.matchAll(/\$\{input:([^}]+)\}/g)].map((m) => m[1]!)));
      const defined = new Set((file.inputs ?? []).map((i: Json) => i.id as string));
      expect([...used].sort(), name).toEqual([...defined].sort());
    }
  });

  it('tasks: the deploy, its dry run, SSH with a prompted IP, start and test', () => {
    const { tasks, inputs } = read('tasks.json');
    const byLabel = new Map<string, Json>(tasks.map((t: Json) => [t.label, t]));
    expect([...byLabel.keys()]).toEqual([
      'Deploy to DigitalOcean',
      'Deploy to DigitalOcean (dry run)',
      'SSH to Droplet',
      'Start platform',
      'Run tests',
    ]);

    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    for (const task of tasks) {
      if (task.type === 'npm') expect(pkg.scripts[task.script], `npm script ${task.script}`).toBeDefined();
      if (task.type === 'process' && String(task.command).startsWith('${workspaceFolder}/')) {
        expect(() => accessSync(workspacePath(task.command), constants.X_OK), `${task.command} is executable`).not.toThrow();
      }
    }
    expect(byLabel.get('Start platform')).toMatchObject({ type: 'npm', script: 'start' });
    expect(byLabel.get('Run tests')).toMatchObject({ type: 'npm', script: 'test', group: { kind: 'test', isDefault: true } });
    expect(byLabel.get('SSH to Droplet')!.args).toEqual(['root@${input:dropletIP}']);
    expect(inputs.find((i: Json) => i.id === 'dropletIP')).toMatchObject({ type: 'promptString' });
    expect(byLabel.get('Deploy to DigitalOcean (dry run)')!.args).toContain('--dry-run');
    expect(byLabel.get('Deploy to DigitalOcean')!.args).not.toContain('--dry-run');

    // Every flag a deploy task passes is one the script documents.
    const help = spawnSync('bash', [join(ROOT, 'scripts/deploy_to_do.sh'), '--help'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: '/nonexistent' },
    });
    expect(help.status, help.stderr).toBe(0);
    for (const task of tasks.filter((t: Json) => String(t.label).startsWith('Deploy'))) {
      for (const flag of (task.args as string[]).filter((a) => a.startsWith('--'))) expect(help.stdout).toContain(`  ${flag}`);
    }
  });

  it('launch: orchestrator, an agent picked from the built-in list, the platform, and the current test file, all on Node 24', () => {
    const { configurations, inputs } = read('launch.json');
    const byName = new Map<string, Json>(configurations.map((c: Json) => [c.name, c]));
    for (const config of configurations) {
      expect(config.runtimeExecutable, config.name).toBe('${workspaceFolder}/node_modules/.bin/node');
      expect(existsSync(workspacePath(config.program)), config.program).toBe(true);
    }
    expect(byName.get('Debug orchestrator')).toMatchObject({ program: '${workspaceFolder}/bin/agentic-mesh.ts', args: ['orchestrator'] });
    expect(byName.get('Debug an agent')).toMatchObject({
      program: '${workspaceFolder}/bin/agentic-mesh.ts',
      args: ['agent', '${input:agentName}'],
    });
    expect(byName.get('Debug the whole platform (start)')).toMatchObject({ args: ['start'] });
    expect(byName.get('Debug current test file (vitest)')).toMatchObject({ program: '${workspaceFolder}/node_modules/vitest/vitest.mjs' });
    expect(byName.get('Debug current test file (vitest)')!.args).toContain('${relativeFile}');
    const agentInput = inputs.find((i: Json) => i.id === 'agentName');
    expect(agentInput.type).toBe('pickString');
    expect(agentInput.options).toEqual(builtInAgentNames);
  });

  it('settings: the workspace TypeScript and Node, and YAML schemas whose globs match real files', () => {
    const settings = read('settings.json');
    for (const key of ['js/ts.tsdk.path', 'typescript.tsdk']) expect(existsSync(join(ROOT, settings[key], 'tsserver.js')), key).toBe(true);
    expect(existsSync(join(ROOT, settings['vitest.nodeExecutable']))).toBe(true);
    for (const [schema, globs] of Object.entries(settings['yaml.schemas'] as Record<string, string[]>)) {
      for (const glob of globs) expect(globSync(glob, { cwd: ROOT }).length, `${schema} -> ${glob}`).toBeGreaterThan(0);
    }
  });

  it('extensions: well-formed ids, no duplicates', () => {
    const { recommendations } = read('extensions.json');
    expect(new Set(recommendations).size).toBe(recommendations.length);
    for (const id of recommendations) expect(id).toMatch(/^[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$/i);
    expect(recommendations).toEqual(
      expect.arrayContaining([
        'vitest.explorer',
        'redhat.vscode-yaml',
        'timonwong.shellcheck',
        'ms-azuretools.vscode-docker',
        'ms-vscode-remote.remote-ssh',
      ]),
    );
  });
});
