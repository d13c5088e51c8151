import path from 'node:path';
import { Type } from 'typebox';

/** A file handed to an agent: a relative path and its text. */
/** A file as agents receive and return it: the schema every file-taking agent declares. */
export const FileSchema = Type.Object({ path: Type.String({ minLength: 1 }), content: Type.String() });

export interface InputFile {
  path: string;
  content: string;
}

export type CollectedFiles = { ok: true; files: InputFile[]; source: 'input' | 'dependencies' } | { ok: false; message: string };

// Inputs arrive over HTTP (1 MiB body limit) or from upstream outputs; these bounds keep a
// malformed upstream from making an agent write or parse an unbounded amount.
const MAX_FILES = 2_000;
const MAX_TOTAL_BYTES = 20 * 1024 * 1024;

const SOURCE_EXTENSIONS = /\.(?:ts|tsx|mts|cts|js|jsx|mjs|cjs)$/;
const TS_EXTENSIONS = /\.(?:ts|tsx|mts|cts)$/;
const TEST_FILE = /\.test\.(?:ts|mts|cts|js|mjs|cjs)$/;

export const isSourcePath = (p: string): boolean => SOURCE_EXTENSIONS.test(p);
export const isTypeScriptPath = (p: string): boolean => TS_EXTENSIONS.test(p);
export const isTestPath = (p: string): boolean => TEST_FILE.test(p);

/**
 * Why a path may not be used, or undefined when it is a plain relative path. Agents write these
 * files to disk or resolve imports between them, so nothing may escape the folder they live in.
 */
export function unsafePathReason(p: string): string | undefined {
  if (p.length === 0) return 'empty path';
  if (p.includes('\0')) return 'path contains a NUL byte';
  if (path.posix.isAbsolute(p) || path.win32.isAbsolute(p) || /^[a-zA-Z]:/.test(p)) return 'absolute path';
  if (p.split(/[\\/]+/).includes('..')) return "path contains '..'";
  return undefined;
}

function asFileList(value: unknown): InputFile[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter(
    (f): f is InputFile =>
      typeof f === 'object' && f !== null && typeof (f as InputFile).path === 'string' && typeof (f as InputFile).content === 'string',
  );
}

/** Upstream outputs may be the agent output itself or a response envelope around it. */
function filesOfOutput(output: unknown): InputFile[] {
  if (typeof output !== 'object' || output === null) return [];
  const direct = asFileList((output as { files?: unknown }).files);
  if (direct) return direct;
  const nested = (output as { output?: unknown }).output;
  if (typeof nested === 'object' && nested !== null) return asFileList((nested as { files?: unknown }).files) ?? [];
  return [];
}

/**
 * The files an agent works on: `input.files` when given, otherwise every `files` array produced by
 * the step's dependencies. Dependencies are read in step-id order and a later file replaces an
 * earlier one with the same path, so the result does not depend on object key order.
 */
export function collectFiles(input: { files?: unknown }, dependencies: Record<string, unknown>): CollectedFiles {
  let files = asFileList(input.files) ?? [];
  let source: 'input' | 'dependencies' = 'input';
  if (files.length === 0) {
    source = 'dependencies';
    files = Object.keys(dependencies)
      .sort()
      .flatMap((stepId) => filesOfOutput(dependencies[stepId]));
  }
  if (files.length === 0) {
    return { ok: false, message: 'no files to work on: input.files is empty and no dependency output carries a files array' };
  }
  const byPath = new Map<string, InputFile>();
  let bytes = 0;
  for (const file of files) {
    const reason = unsafePathReason(file.path);
    if (reason) return { ok: false, message: `unsafe file path ${JSON.stringify(file.path)}: ${reason}` };
    const normalised = path.posix.normalize(file.path.replaceAll('\\', '/')).replace(/^\.\//, '');
    bytes += Buffer.byteLength(file.content);
    byPath.set(normalised, { path: normalised, content: file.content });
  }
  if (byPath.size > MAX_FILES) return { ok: false, message: `too many files: ${byPath.size} (limit ${MAX_FILES})` };
  if (bytes > MAX_TOTAL_BYTES) return { ok: false, message: `files total ${bytes} bytes (limit ${MAX_TOTAL_BYTES})` };
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ok: true, files: sorted, source };
}
