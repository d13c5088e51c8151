// Only what loads no compiler, linter or formatter is exported here. TypeScript, ESLint and Prettier
// take about 430 ms and 85 MB to load, and every process that imports agents/index.ts (the CLI, each
// agent service) would pay that at start even if it never runs a task that needs them. The modules
// built on them are imported by path, from code that runs a task (a dynamic import in an agent's
// execute, or a module only execute loads): in-memory-program.ts and ambient-modules.ts (compiler),
// lint.ts, lint-rules.ts and eslint-runner.ts (ESLint), format.ts (Prettier).
// tests/unit/agents/lazy-tooling.test.ts fails when importing the agents loads any of them.
export { filesToCheck, type FilesToCheck } from './check-files.ts';
export { compareFindings, countFindings, findingAt, formatFinding, type Finding, type FindingCounts, type Severity } from './findings.ts';
export {
  collectFiles,
  FileSchema,
  isSourcePath,
  isTestPath,
  isTypeScriptPath,
  unsafePathReason,
  type CollectedFiles,
  type InputFile,
} from './input-files.ts';
export { declarationRoot, isBareSpecifier, isNodeBuiltin, nodeTypeRoot, tscEntryPath, typescriptLibDir } from './toolchain-paths.ts';
