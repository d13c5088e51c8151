import { filesToCheck, isSourcePath, isTestPath, unsafePathReason } from '../../services/tooling/index.ts';
import type { CheckContext, CheckVerdict } from '../sdk/index.ts';
import type { DocumentationInput } from './index.ts';

// What this agent writes is an API reference of the code's exports; a task asking for another kind
// of document must be refused, not answered with docs/API.md and "succeeded".
const OTHER_DOCUMENTS: Array<[RegExp, string]> = [
  [
    /\btranslat\w*|\b(?:in|into)\s+(?:french|spanish|german|italian|portuguese|japanese|chinese|korean|russian|dutch|polish|arabic|hindi)\b/i,
    'a translation',
  ],
  [/\breadme\b/i, 'a README'],
  [/\bchangelog\b|\brelease notes\b/i, 'a changelog'],
  [/\btutorials?\b|\bguides?\b|\bhow-?tos?\b|\bblog\b|\barticles?\b/i, 'a tutorial or guide'],
  [/\bdiagrams?\b/i, 'a diagram'],
  [/\brunbooks?\b/i, 'a runbook'],
  [/^\s*(?:please\s+)?(?:add|write|insert)\s+(?:jsdoc|tsdoc|doc\s*comments|docstrings|(?:code\s+)?comments)\b/i, 'comments in the code'],
];

/**
 * The refusal of a task that asks for a document other than the API reference, or undefined. An
 * output_path or title given means the caller knows what comes out.
 */
export function otherDocumentRefusal(input: DocumentationInput, text: string): { reason: string; fix: string } | undefined {
  if (input.output_path !== undefined || input.title !== undefined) return undefined;
  const other = OTHER_DOCUMENTS.find(([pattern]) => pattern.test(text))?.[1];
  if (!other) return undefined;
  return {
    reason: `documentation writes an API reference of the code's exports (Markdown), and this asks for ${other}`,
    fix: 'ask for the API reference ("document the code"); give output_path (README.md, say) to put it in another file',
  };
}

/** The reference is written from source files: given (some of them not tests), or written by a step before it. */
export function checkDocumentation(input: DocumentationInput, ctx: CheckContext): CheckVerdict {
  const outputPath = input.output_path ?? 'docs/API.md';
  const badOutput = unsafePathReason(outputPath);
  if (badOutput)
    return {
      verdict: 'refused',
      reason: `unsafe output_path ${JSON.stringify(outputPath)}: ${badOutput}`,
      fix: 'give a relative output_path',
    };
  const other = otherDocumentRefusal(input, input.task ?? ctx.description ?? '');
  if (other) return { verdict: 'refused', ...other };
  const files = filesToCheck(input, ctx.upstream, 'documentation');
  if ('refused' in files) return files.refused;
  if ('given' in files && !files.given.some((f) => isSourcePath(f.path) && !isTestPath(f.path)))
    return {
      verdict: 'refused',
      reason: `no TypeScript or JavaScript source to document among ${files.given.map((f) => f.path).join(', ')}`,
      fix: 'pass the .ts or .js source (not only tests) in input.files',
    };
  return { verdict: 'runs' };
}
