import { Type } from 'typebox';
import { NO_MODEL_CONFIGURED } from '../../services/llm/index.ts';
import { collectFiles, unsafePathReason, type InputFile } from '../../services/tooling/index.ts';
import { defineAgent, TaskFailedError, type AgentContext, type AgentOutput } from '../sdk/index.ts';
import type { ReviewFinding } from './fixes.ts';
import type { ExportInput } from './scaffold.ts';
import { checkFeatureDev } from './check.ts';
import { asksForFixes, refusalOfText } from './refusals.ts';

// Scaffolding, the model's checks and the fixes run on the TypeScript compiler, ESLint and Prettier,
// so their modules are imported when a task needs them, not with the agent (services/tooling/index.ts says why).

export type { ExportInput } from './scaffold.ts';

export interface FeatureDevInput {
  spec?: string;
  task?: string;
  module?: string;
  exports?: ExportInput[];
  language?: string;
  /** Files to apply review findings to (the findings come from ctx.dependencies or input.feedback). */
  files?: InputFile[];
  /** Set by a workflow loop: what the step that sent the work back said (e.g. a rejecting review). */
  feedback?: { step?: string; output?: unknown };
  /** Set by a workflow loop: this agent's previous output, whose files the revision starts from. */
  previous_output?: { files?: InputFile[] } | null;
}

const open = { additionalProperties: true };
export const FeatureDevInputSchema = Type.Object(
  {
    spec: Type.Optional(Type.String()),
    task: Type.Optional(Type.String()),
    module: Type.Optional(Type.String({ minLength: 1 })),
    exports: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ minLength: 1 }),
            params: Type.Optional(
              Type.Array(
                Type.Object(
                  { name: Type.String({ minLength: 1 }), type: Type.Optional(Type.String()), optional: Type.Optional(Type.Boolean()) },
                  open,
                ),
              ),
            ),
            returns: Type.Optional(Type.String()),
            description: Type.Optional(Type.String()),
          },
          open,
        ),
      ),
    ),
    language: Type.Optional(Type.String()),
    files: Type.Optional(Type.Array(Type.Object({ path: Type.String({ minLength: 1 }), content: Type.String() }, open))),
  },
  open,
);

/** Findings carried by dependency outputs (the output itself or a response envelope around it). */
function findingsFrom(dependencies: Record<string, unknown>): ReviewFinding[] {
  const out: ReviewFinding[] = [];
  for (const stepId of Object.keys(dependencies).sort()) {
    const dep = dependencies[stepId] as { findings?: unknown; output?: { findings?: unknown } } | null;
    const list = dep?.findings ?? dep?.output?.findings;
    if (!Array.isArray(list)) continue;
    for (const f of list as Array<Partial<ReviewFinding>>) {
      if (typeof f?.file === 'string' && typeof f.line === 'number' && typeof f.rule === 'string' && typeof f.message === 'string') {
        out.push({
          file: f.file.replace(/^\.\//, ''),
          line: f.line,
          rule: f.rule,
          message: f.message,
          ...(typeof f.column === 'number' ? { column: f.column } : {}),
          ...(typeof f.severity === 'string' ? { severity: f.severity } : {}),
        });
      }
    }
  }
  return out;
}

/** Files and nothing to build or fix: they go on as they are, checked, for the next step to judge. */
function handOver(files: InputFile[]): AgentOutput {
  for (const f of files) {
    const reason = unsafePathReason(f.path);
    if (reason) throw new TaskFailedError(`file ${JSON.stringify(f.path)} is not a usable path: ${reason}`);
  }
  return {
    files,
    exports: [],
    implemented: false,
    todo: [],
    llm: { used: false, reason: 'no spec and no findings: nothing to write or fix' },
    summary: `No spec and no findings: handed on ${files.length} file${files.length === 1 ? '' : 's'} unchanged`,
  };
}

/** With a model: the module and its test written from the spec; offline (or if the model's answer fails its checks): the scaffold. */
async function generate(input: FeatureDevInput, ctx: AgentContext, text: string): Promise<AgentOutput> {
  const { scaffold } = await import('./scaffold.ts');
  const plan = scaffold(input, ctx, text);
  if (!ctx.llm.available) return { ...plan.output, llm: NO_MODEL_CONFIGURED };
  const { exportedNames, writeWithModel } = await import('./llm.ts');
  // Signatures the spec writes out are part of what was asked for; an assumed one is not.
  const requiredExports = plan.exports.filter((e) => e.kind === 'class' || e.signatureGiven).map((e) => e.name);
  const work = await writeWithModel(ctx, {
    spec: text,
    modulePath: plan.modulePath,
    testPath: plan.testPath,
    requiredExports,
    scaffold: plan.files,
  });
  if (!work.ok) {
    ctx.log.warn({ reason: work.reason }, 'model output not used; scaffolding offline');
    return {
      ...plan.output,
      llm: { used: false, reason: work.reason },
      summary: `${String(plan.output.summary)}. The model's answer was not used: ${work.reason}`,
    };
  }
  const module = work.files.find((f) => f.path === plan.modulePath)!;
  const names = exportedNames(module);
  const lint = work.lint.filter((f) => f.rule !== 'todo-comment');
  return {
    files: work.files,
    module: plan.modulePath,
    test: plan.testPath,
    exports: names,
    implemented: true,
    placeholders: [],
    typecheck: { ok: true, diagnostics: [] },
    lint,
    ...(work.eslintFixed.length > 0 ? { eslint_fixed: work.eslintFixed } : {}),
    todo: lint.map((f) => `fix ${f.file}:${f.line} ${f.rule}: ${f.message}`),
    notes: [...work.notes, `Run the test with: node --test ${plan.testPath}`],
    llm: { used: true, model: work.model },
    summary:
      `Wrote ${plan.modulePath} (${names.join(', ')}) and ${plan.testPath} with ${work.model}; they typecheck (strict, NodeNext)` +
      `${lint.length > 0 ? ` with ${lint.length} lint finding${lint.length === 1 ? '' : 's'} left` : ' and lint clean'}. The tests were not run here; the CI step runs them`,
  };
}

export const featureDevAgent = defineAgent<FeatureDevInput>({
  name: 'feature-dev',
  description:
    'Turns a feature spec into a TypeScript module and node:test file: written by the model when one is configured (checked: safe paths, ' +
    'strict typecheck, lint), else a typed scaffold whose bodies throw "not implemented". Revises files for review findings: ESLint ' +
    'auto-fixes, mechanical fixes (var, ==, debugger, console), then the model for what is left.',
  capabilities: [
    'build feature',
    'implement feature',
    'implement functionality',
    'write code',
    'develop module',
    'create module',
    'create function',
    'create class',
    'add endpoint',
    'add function',
    'scaffold module',
    'scaffold',
    'generate code',
    'fix findings',
    'apply fixes',
  ],
  inputSchema: FeatureDevInputSchema,
  outputs: ['files:source', 'summary'],
  check: checkFeatureDev,
  async execute(input, ctx) {
    ctx.signal.throwIfAborted();
    if (input.language !== undefined && input.language.toLowerCase() !== 'typescript') {
      throw new TaskFailedError(`language ${JSON.stringify(input.language)} is not supported; feature-dev writes TypeScript only`);
    }
    // A revision starts from the previous attempt's files and the findings that sent it back.
    const findings = [
      ...findingsFrom(ctx.dependencies),
      ...(input.feedback?.output ? findingsFrom({ [input.feedback.step ?? 'feedback']: input.feedback.output }) : []),
    ];
    const previous = Array.isArray(input.previous_output?.files) ? input.previous_output.files : undefined;
    if (findings.length > 0) {
      const collected = previous ? { ok: true as const, files: previous } : collectFiles(input, ctx.dependencies);
      if (collected.ok) {
        const { revise } = await import('./revise.ts');
        return revise(collected.files, findings, ctx);
      }
    }
    const own = [input.spec, input.task].find((t) => t !== undefined && t.trim() !== '');
    if (own === undefined && !input.exports?.length && !input.module && (previous ?? input.files)?.length)
      return handOver(previous ?? input.files!);
    const text = own ?? ctx.description ?? '';
    if (!input.exports?.length && !input.module && asksForFixes(text))
      throw new TaskFailedError(
        findings.length > 0
          ? 'findings to fix came without the files they are about: pass input.files, or let the step that wrote them come before the review'
          : 'no findings to fix: no review before this step handed any on, and input.feedback carries none',
      );
    const foreign = refusalOfText(input, text);
    if (foreign) throw new TaskFailedError(`${foreign.reason}: ${foreign.fix}`);
    return generate(input, ctx, text);
  },
});
