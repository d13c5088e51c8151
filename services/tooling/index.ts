export { ambientDeclarations, packageImports } from './ambient-modules.ts';
export { compareFindings, countFindings, diagnosticToFinding, findingAt, formatFinding, type Finding, type FindingCounts, type Severity } from './findings.ts';
export { checkOptions, createInMemoryProgram, createVirtualProgram, inputPathOf, VIRTUAL_ROOT, type InMemoryProgram, type VirtualProgramInput } from './in-memory-program.ts';
export { collectFiles, FileSchema, isSourcePath, isTestPath, isTypeScriptPath, unsafePathReason, type CollectedFiles, type InputFile } from './input-files.ts';
export { LINT_RULES, lintFiles, lintSourceFile, parseSource, scriptKindOf, type LintOptions, type LintRule } from './lint-rules.ts';
export { declarationRoot, isBareSpecifier, isNodeBuiltin, nodeTypeRoot, tscEntryPath, typescriptLibDir } from './toolchain-paths.ts';
