import type { CheckContext, CheckVerdict } from '../sdk/index.ts';
import { knownServiceNames } from './catalog.ts';
import type { InfrastructureInput } from './index.ts';
import { readTask, type TaskRequest } from './task-text.ts';

const asksSomething = (r: TaskRequest): boolean => r.services.length > 0 || r.image !== undefined || r.wantsCdktf;

// Compose files and droplet stacks are what this agent writes; a task for another orchestrator
// must be refused, not answered with a Compose file it did not ask for.
const OTHER_ORCHESTRATOR = /\b(kubernetes|k8s|helm|kubectl|eks|gke|aks|openshift|nomad|ecs|docker swarm)\b/i;

/** The refusal of a task for a platform this agent does not write for, or undefined. Explicit input (service, droplet, target) is not second-guessed. */
export function otherPlatformRefusal(input: InfrastructureInput, text: string | undefined): { reason: string; fix: string } | undefined {
  if (input.service || input.droplet || input.target) return undefined;
  const named = text ? OTHER_ORCHESTRATOR.exec(text)?.[1] : undefined;
  if (!named) return undefined;
  return {
    reason: `infrastructure writes Docker Compose services and CDKTF droplet stacks, and this asks for ${named}`,
    fix: 'ask for a Compose service ("deploy redis") or a droplet ("provision a droplet in fra1"); the platform\'s own Kubernetes manifests are in k8s/ (docs/KUBERNETES.md)',
  };
}

/**
 * Runs when the input or the text names something to deploy (a known service, an image, a droplet
 * or terraform stack); with a model, an unknown service is proposed by it and then checked.
 */
export function checkInfrastructure(input: InfrastructureInput, ctx: CheckContext): CheckVerdict {
  if (input.service || input.droplet || input.target === 'cdktf') return { verdict: 'runs' };
  const elsewhere = otherPlatformRefusal(input, input.task ?? ctx.description);
  if (elsewhere) return { verdict: 'refused', ...elsewhere };
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
