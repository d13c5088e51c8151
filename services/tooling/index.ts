export { ambientDeclarations, packageImports } from './ambient-modules.ts';
export { compareFindings, countFindings, diagnosticToFinding, findingAt, formatFinding, type Finding, type FindingCounts, type Severity } from './findings.ts';
export { checkOptions, createInMemoryProgram, createVirtualProgram, inputPathOf, VIRTUAL_ROOT, type InMemoryProgram, type VirtualProgramInput } from './in-memory-program.ts';
export { collectFiles, FileSchema, isSourcePath, isTestPath, isTypeScriptPath, unsafePathReason, type CollectedFiles, type InputFile } from './input-files.ts';
export { DIRECTIVE_RULE, ESLINT_CONFIG, eslintFiles, fixWithEslint, PARSE_ERROR_RULE, type EslintFix, type EslintFixResult } from './eslint-runner.ts';
export { isLintRule, lintFiles } from './lint.ts';
export { checkCustomRules, CUSTOM_RULES, parseSource, scriptKindOf, type CustomRule } from './lint-rules.ts';
export { declarationRoot, isBareSpecifier, isNodeBuiltin, nodeTypeRoot, tscEntryPath, typescriptLibDir } from './toolchain-paths.ts';
export { formatFiles } from './format.ts';
