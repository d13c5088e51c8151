import { filesToCheck, isSourcePath } from '../../services/tooling/index.ts';
import type { CheckContext, CheckVerdict } from '../sdk/index.ts';
import type { CodeReviewInput } from './index.ts';

/** A review needs TypeScript or JavaScript to read: given, or written by a step before it. */
export function checkReview(input: CodeReviewInput, ctx: CheckContext): CheckVerdict {
  const files = filesToCheck(input, ctx.upstream, 'code-review');
  if ('refused' in files) return files.refused;
  if ('given' in files && !files.given.some((f) => isSourcePath(f.path)))
    return {
      verdict: 'refused',
      reason: `no TypeScript or JavaScript files to review among ${files.given.map((f) => f.path).join(', ')}`,
      fix: 'pass .ts or .js files in input.files',
    };
  return { verdict: 'runs' };
}
