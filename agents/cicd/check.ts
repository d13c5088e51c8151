import { filesToCheck } from '../../services/tooling/index.ts';
import type { CheckContext, CheckVerdict } from '../sdk/index.ts';
import type { CicdInput } from './index.ts';

/** The pipeline runs on files (its steps are checked by the input schema); without any it has nothing to run. */
export function checkPipeline(input: CicdInput, ctx: CheckContext): CheckVerdict {
  const files = filesToCheck(input, ctx.upstream, 'cicd');
  return 'refused' in files ? files.refused : { verdict: 'runs' };
}
