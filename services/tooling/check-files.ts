import { upstreamGives, type CheckVerdict, type UpstreamStep } from '../protocol/index.ts';
import { collectFiles, type InputFile } from './input-files.ts';

/** The files a step would work on, as far as a check can know them before anything runs. */
export type FilesToCheck = { given: InputFile[] } | { fromUpstream: true } | { refused: Extract<CheckVerdict, { verdict: 'refused' }> };

/**
 * input.files when given (checked as execute checks them: paths, count, size); else whether a
 * dependency's agent declares source files (`files:source`) among its outputs; else a refusal that says what to add.
 */
export function filesToCheck(input: { files?: unknown }, upstream: readonly UpstreamStep[], agent: string): FilesToCheck {
  // The agents that read files read code; a step that hands on only config (compose files) will not do.
  const want = 'files:source';
  if (Array.isArray(input.files) && input.files.length > 0) {
    const collected = collectFiles(input, {});
    if (!collected.ok) return { refused: { verdict: 'refused', reason: collected.message, fix: 'fix input.files' } };
    return { given: collected.files };
  }
  if (upstreamGives(upstream, want)) return { fromUpstream: true };
  return {
    refused: {
      verdict: 'refused',
      reason: `${agent} works on code and has none: input.files is empty and no step before it writes code`,
      fix: 'pass input.files ([{path, content}]), or put a step that writes code first ("build feature X then ...")',
      wants: [want],
    },
  };
}
