import { spawn } from 'node:child_process';
import { cp, mkdir, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { contextFiles } from './docker-context.ts';

// A Dockerfile read the way BuildKit reads it, and a target "built" without a Docker engine (there
// is none here): each stage is a directory standing for its root filesystem, COPY copies from the
// build context (as .dockerignore filters it) or from an earlier stage, and the stages whose files
// other stages copy out (the build stage) have their RUN lines run for real. Two substitutions,
// because tests reach no registry and the host is not the image:
// - `npm ci` links the repository's node_modules, which `npm ci` installed from the same lockfile;
// - a RUN in a stage nothing copies from (installing packages, creating users) is recorded, not run.

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  /** The image or the earlier stage it starts from, with ARG defaults substituted. */
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  stages: Stage[];
  args: Record<string, string>;
}

export function parseDockerfile(text: string): Dockerfile {
  const logical: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (buffer === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (buffer !== '' && line.trimStart().startsWith('#')) return;
    if (buffer === '') start = i + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1)} `;
      return;
    }
    buffer += line;
    const m = /^\s*(\w+)\s*(.*)$/s.exec(buffer)!;
    logical.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buffer = '';
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of logical) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const [k, v = ''] = ins.args.split('=');
      args[k!.trim()] = v.trim();
    } else if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      const from = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => args[a ?? b] ?? '');
      stages.push({ name: m[2] ?? String(stages.length), from, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { stages, args };
}

/** The exec form (JSON array) of CMD, ENTRYPOINT or HEALTHCHECK CMD; undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  return JSON.parse(args) as string[];
}

export interface ImageConfig {
  user: string;
  workdir: string;
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  env: Record<string, string>;
  /** RUN lines of this stage and the stages below it, in order, whether run or only recorded. */
  runs: string[];
  healthcheck: string | undefined;
}

export interface BuiltStage {
  /** The directory standing for the stage's root filesystem. */
  root: string;
  config: ImageConfig;
}

/** The stage named `name` and the chain of stages it starts from, the base first. */
export function stageChain(file: Dockerfile, name: string): Stage[] {
  const stage = file.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage ${name}; stages: ${file.stages.map((s) => s.name).join(', ')}`);
  const parent = file.stages.find((s) => s.name === stage.from);
  return parent ? [...stageChain(file, parent.name), stage] : [stage];
}

function hostPath(root: string, containerPath: string): string {
  return join(root, posix.resolve('/', containerPath));
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

function sh(command: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`RUN ${command} exited ${code}:\n${out.slice(-4000)}`))));
  });
}

export interface BuildOptions {
  /** The build context (the repository root). */
  context: string;
  /** Where the stage directories go. */
  workDir: string;
  /** The node_modules an `npm ci` stands for. */
  nodeModules: string;
}

/** Builds the targets and the stages they need, each stage once; returns each target's filesystem and image config. */
export async function buildTargets(file: Dockerfile, targets: string[], options: BuildOptions): Promise<Record<string, BuiltStage>> {
  const files = new Set(await contextFiles(options.context));
  const copiedFrom = new Set(
    file.stages.flatMap(
      (s) =>
        s.instructions
          .filter((i) => i.keyword === 'COPY')
          .map((i) => /--from=(\S+)/.exec(i.args)?.[1])
          .filter(Boolean) as string[],
    ),
  );
  const built = new Map<string, BuiltStage>();

  async function build(name: string): Promise<BuiltStage> {
    const done = built.get(name);
    if (done) return done;
    const stage = file.stages.find((s) => s.name === name)!;
    const root = join(options.workDir, `stage-${stage.name}`);
    await mkdir(root, { recursive: true });
    const parentStage = file.stages.find((s) => s.name === stage.from);
    let config: ImageConfig = {
      user: 'root',
      workdir: '/',
      entrypoint: undefined,
      cmd: undefined,
      env: {},
      runs: [],
      healthcheck: undefined,
    };
    if (parentStage) {
      const parent = await build(parentStage.name);
      await cp(parent.root, root, { recursive: true, verbatimSymlinks: true });
      config = structuredClone(parent.config);
    }
    const runsForReal = copiedFrom.has(stage.name);
    for (const ins of stage.instructions) {
      switch (ins.keyword) {
        case 'WORKDIR':
          config.workdir = posix.resolve(config.workdir, ins.args);
          await mkdir(hostPath(root, config.workdir), { recursive: true });
          break;
        case 'USER':
          config.user = ins.args;
          break;
        case 'ENV': {
          const m = /^(\w+)[=\s]\s*(.*)$/.exec(ins.args)!;
          config.env[m[1]!] = m[2]!;
          break;
        }
        case 'ENTRYPOINT':
          config.entrypoint = execForm(ins.args) ?? ['/bin/sh', '-c', ins.args];
          // Docker resets CMD when a stage sets ENTRYPOINT.
          config.cmd = undefined;
          break;
        case 'CMD':
          config.cmd = execForm(ins.args) ?? ['/bin/sh', '-c', ins.args];
          break;
        case 'HEALTHCHECK':
          config.healthcheck = ins.args;
          break;
        case 'COPY':
          await copy(ins, root, config);
          break;
        case 'RUN':
          config.runs.push(ins.args);
          for (const part of ins.args.split(/\s*&&\s*/)) {
            if (/^npm ci\b/.test(part)) await symlink(options.nodeModules, join(hostPath(root, config.workdir), 'node_modules'), 'dir');
            else if (/^npm cache clean\b/.test(part)) continue;
            else if (runsForReal) {
              const cwd = hostPath(root, config.workdir);
              await sh(part, cwd, {
                PATH: `${join(cwd, 'node_modules/.bin')}:${process.env.PATH ?? ''}`,
                HOME: process.env.HOME ?? '/tmp',
              });
            }
          }
          break;
        default:
          break;
      }
    }
    const result = { root, config };
    built.set(name, result);
    return result;
  }

  async function copy(ins: Instruction, root: string, config: ImageConfig): Promise<void> {
    const words = ins.args.startsWith('[') ? (JSON.parse(ins.args) as string[]) : ins.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    const dest = paths.pop()!;
    const destPath = hostPath(root, posix.resolve(config.workdir, dest));
    const intoDir = dest.endsWith('/') || paths.length > 1 || (await isDirectory(destPath));
    for (const src of paths) {
      let source: string;
      if (from) {
        source = hostPath((await build(from)).root, posix.resolve('/', src));
        if (!(await stat(source).catch(() => undefined)))
          throw new Error(`line ${ins.line}: COPY --from=${from} ${src}: not in stage ${from}`);
      } else {
        const rel = posix
          .normalize(src)
          .replace(/^\.?\/*/, '')
          .replace(/\/+$/, '');
        if (!files.has(rel) && ![...files].some((f) => f.startsWith(`${rel}/`))) {
          throw new Error(`line ${ins.line}: COPY ${src}: not in the build context (missing, or excluded by .dockerignore)`);
        }
        source = join(options.context, rel);
        if (await isDirectory(source)) {
          // A directory's contents, as the context holds them.
          for (const f of [...files].filter((x) => x.startsWith(`${rel}/`))) {
            const target = join(destPath, f.slice(rel.length + 1));
            await mkdir(dirname(target), { recursive: true });
            await cp(join(options.context, f), target);
          }
          continue;
        }
      }
      if (await isDirectory(source)) {
        await mkdir(destPath, { recursive: true });
        await cp(source, destPath, { recursive: true, verbatimSymlinks: true });
      } else {
        const target = intoDir ? join(destPath, basename(source)) : destPath;
        await mkdir(dirname(target), { recursive: true });
        await cp(source, target);
      }
    }
  }

  const out: Record<string, BuiltStage> = {};
  for (const t of targets) out[t] = await build(t);
  return out;
}

export { hostPath };
