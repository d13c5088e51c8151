import type { CheckContext, CheckVerdict } from '../sdk/index.ts';
import { knownServiceNames } from './catalog.ts';
import type { InfrastructureInput } from './index.ts';
import { readTask, type TaskRequest } from './task-text.ts';

const asksSomething = (r: TaskRequest): boolean => r.services.length > 0 || r.image !== undefined || r.wantsCdktf;

/**
 * Runs when the input or the text names something to deploy (a known service, an image, a droplet
 * or terraform stack); with a model, an unknown service is proposed by it and then checked.
 */
export function checkInfrastructure(input: InfrastructureInput, ctx: CheckContext): CheckVerdict {
  if (input.service || input.droplet || input.target === 'cdktf') return { verdict: 'runs' };
  if (asksSomething(readTask(input.task ?? '')) || (ctx.description && asksSomething(readTask(ctx.description))))
    return { verdict: 'runs' };
  if (ctx.modelAvailable) return { verdict: 'runs' };
  return {
    verdict: 'refused',
    reason: 'nothing to deploy that infrastructure knows, and no language model is configured to propose one',
    fix:
      `name a known service (${knownServiceNames.join(', ')}), an image ("image ghcr.io/org/app:1.0") or a droplet / terraform stack, ` +
      'or pass input.service or input.droplet',
  };
}
