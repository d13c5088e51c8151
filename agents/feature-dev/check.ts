import { upstreamGives } from '../../services/protocol/index.ts';
import type { CheckContext, CheckVerdict } from '../sdk/index.ts';
import type { FeatureDevInput } from './index.ts';
import { asksForFixes, refusalOfText } from './refusals.ts';

const SCAFFOLD_ONLY =
  'no language model is configured, so feature-dev writes a typed scaffold whose functions throw "not implemented" ' +
  '(set LLM_BASE_URL for an implementation)';

/** Follows execute's choice of path (revise, hand over, write) and asks of each what it needs. */
export async function checkFeatureDev(input: FeatureDevInput, ctx: CheckContext): Promise<CheckVerdict> {
  if (input.language !== undefined && input.language.toLowerCase() !== 'typescript')
    return {
      verdict: 'refused',
      reason: `language ${JSON.stringify(input.language)} is not supported; feature-dev writes TypeScript only`,
      fix: 'leave out input.language or set it to "typescript"',
    };
  const hasFiles = (input.files?.length ?? 0) > 0 || upstreamGives(ctx.upstream, 'files:source');
  // After a review, the findings it hands on are fixed in the files; the mechanical fixes need no model.
  if (hasFiles && upstreamGives(ctx.upstream, 'findings')) return { verdict: 'runs' };
  const own = [input.spec, input.task].find((t) => t !== undefined && t.trim() !== '');
  if (own === undefined && !input.exports?.length && !input.module && (input.files?.length ?? 0) > 0) return { verdict: 'runs' };
  // "Fix the findings" is a revision: the findings must come from a review that runs before it.
  if (!input.exports?.length && !input.module && asksForFixes(own ?? ctx.description ?? ''))
    return {
      verdict: 'refused',
      reason: hasFiles
        ? 'fixing findings needs them from a review, and no step before this one hands any on'
        : 'fixing findings needs code and a review of it, and no step before this one hands on either',
      fix: hasFiles
        ? 'put a review first ("review the code then fix the findings")'
        : 'pass input.files and put a review first ("review the code then fix the findings")',
      wants: hasFiles ? ['findings'] : ['files:source', 'findings'],
    };
  const foreign = refusalOfText(input, own ?? ctx.description ?? '');
  if (foreign) return { verdict: 'refused', ...foreign };
  if (!input.exports?.length && !input.module) {
    // The parser loads the TypeScript compiler; the agent loads it only when asked (lazy-tooling.test.ts).
    const { parseSpec } = await import('./spec-parser.ts');
    const parsed = parseSpec(own ?? ctx.description ?? '');
    if (parsed.exports.length === 0 && !parsed.moduleName)
      return {
        verdict: 'refused',
        reason: 'feature-dev needs to know what to build, and this names no feature, module or signature',
        fix: 'name the feature ("build feature slugify utility"), write a signature ("create slugify(text: string): string"), or pass input.module / input.exports',
      };
  }
  return ctx.modelAvailable ? { verdict: 'runs' } : { verdict: 'scaffold', reason: SCAFFOLD_ONLY };
}
