import { filesToCheck, isSourcePath, isTestPath, unsafePathReason } from '../../services/tooling/index.ts';
import type { CheckContext, CheckVerdict } from '../sdk/index.ts';
import type { DocumentationInput } from './index.ts';

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
