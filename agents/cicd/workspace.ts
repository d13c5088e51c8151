import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TaskFailedError } from '../sdk/index.ts';
import { isTypeScriptPath, nodeTypeRoot, type InputFile } from '../../services/tooling/index.ts';

export const GENERATED_TSCONFIG = '.mesh-ci/tsconfig.json';
const GENERATED_AMBIENT = '.mesh-ci/packages.d.ts';

export interface Workspace {
  dir: string;
  files: readonly InputFile[];
  dispose(): Promise<void>;
}

/** Writes `files` into a fresh temporary folder; the caller must dispose() it. */
export async function createWorkspace(files: readonly InputFile[]): Promise<Workspace> {
  // realpath: tools print resolved paths, and the permission flags must name the same folder.
  const dir = await realpath(await mkdtemp(path.join(tmpdir(), 'mesh-cicd-')));
  const dispose = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    for (const file of files) {
      const target = path.resolve(dir, file.path);
      if (!target.startsWith(`${dir}${path.sep}`)) throw new TaskFailedError(`file path ${JSON.stringify(file.path)} leaves the workspace`);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, file.content, { flag: 'wx' });
    }
    // Without a package.json Node and tsc would have to guess each file's module format.
    if (!files.some((f) => f.path === 'package.json')) {
      await writeFile(path.join(dir, 'package.json'), `${JSON.stringify({ private: true, type: 'module' }, null, 2)}\n`);
    }
  } catch (err) {
    await dispose();
    if (err instanceof TaskFailedError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new TaskFailedError(
      `cannot lay out the files in a workspace (${code ?? 'error'}): ${(err as Error).message.replaceAll(dir, '.')}`,
    );
  }
  return { dir, files, dispose };
}

/**
 * Writes the tsconfig the typecheck step runs with. NodeNext resolution, because the test step
 * runs these files on Node itself: an import Node cannot load should fail the typecheck too.
 * Returns false when there is no TypeScript to check.
 */
export async function writeTypecheckConfig(workspace: Workspace): Promise<boolean> {
  const sources = workspace.files.filter((f) => isTypeScriptPath(f.path)).map((f) => `../${f.path}`);
  if (sources.length === 0) return false;
  // Reading the imports takes the compiler's parser, loaded here rather than when the agent is imported.
  const { ambientDeclarations, packageImports } = await import('../../services/tooling/ambient-modules.ts');
  const ambient = ambientDeclarations(packageImports(workspace.files), false);
  if (ambient) {
    await mkdir(path.join(workspace.dir, path.dirname(GENERATED_AMBIENT)), { recursive: true });
    await writeFile(path.join(workspace.dir, GENERATED_AMBIENT), ambient);
    sources.push(path.basename(GENERATED_AMBIENT));
  }
  const config = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: 'es2024',
      lib: nodeTypeRoot ? ['es2024'] : ['es2024', 'dom'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      allowImportingTsExtensions: true,
      resolveJsonModule: true,
      skipLibCheck: true,
      noFallthroughCasesInSwitch: true,
      jsx: 'preserve',
      types: nodeTypeRoot ? ['node'] : [],
      typeRoots: nodeTypeRoot ? [nodeTypeRoot] : [],
    },
    files: sources,
  };
  await mkdir(path.join(workspace.dir, path.dirname(GENERATED_TSCONFIG)), { recursive: true });
  await writeFile(path.join(workspace.dir, GENERATED_TSCONFIG), `${JSON.stringify(config, null, 2)}\n`);
  return true;
}
