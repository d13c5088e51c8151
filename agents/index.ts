import { cicdAgent } from './cicd/index.ts';
import { codeReviewAgent } from './code-review/index.ts';
import { documentationAgent } from './documentation/index.ts';
import { featureDevAgent } from './feature-dev/index.ts';
import { infrastructureAgent } from './infrastructure/index.ts';
import type { AgentDefinition } from './sdk/index.ts';

/** The built-in agents. Listed here, never found by scanning folders. */
export const builtInAgents: ReadonlyArray<AgentDefinition<any>> = [featureDevAgent, codeReviewAgent, infrastructureAgent, cicdAgent, documentationAgent];

export function findAgent(name: string): AgentDefinition<any> | undefined {
  return builtInAgents.find((a) => a.name === name);
}
