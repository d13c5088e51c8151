import { filesToCheck, isSourcePath } from '../../services/tooling/index.ts';
import type { CheckContext, CheckVerdict } from '../sdk/index.ts';
import type { CicdInput } from './index.ts';

/** The pipeline runs on files (its steps are checked by the input schema); without TypeScript or JavaScript among them it has nothing to run. */
export function checkPipeline(input: CicdInput, ctx: CheckContext): CheckVerdict {
  const files = filesToCheck(input, ctx.upstream, 'cicd');
  if ('refused' in files) return files.refused;
  if ('given' in files && !files.given.some((f) => isSourcePath(f.path)))
    return { verdict: 'refused', reason: noSourceReason(files.given.map((f) => f.path)), fix: 'pass .ts or .js files in input.files' };
  return { verdict: 'runs' };
}

export const noSourceReason = (paths: readonly string[]) =>
  `no TypeScript or JavaScript files among ${paths.join(', ')}: typecheck, lint and tests have nothing to run`;
