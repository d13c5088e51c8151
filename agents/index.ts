import type { AgentDefinition } from './sdk/index.ts';

/**
 * The built-in agents by name. Listed here, never found by scanning folders; each agent's code is
 * imported only by a process that runs it (an agent process loads no other agent).
 */
const builtIn: Record<string, () => Promise<AgentDefinition>> = {
  'feature-dev': async () => (await import('./feature-dev/index.ts')).featureDevAgent,
  'code-review': async () => (await import('./code-review/index.ts')).codeReviewAgent,
  infrastructure: async () => (await import('./infrastructure/index.ts')).infrastructureAgent,
  cicd: async () => (await import('./cicd/index.ts')).cicdAgent,
  documentation: async () => (await import('./documentation/index.ts')).documentationAgent,
};

export const builtInAgentNames: readonly string[] = Object.freeze(Object.keys(builtIn));

export async function findAgent(name: string): Promise<AgentDefinition | undefined> {
  return Object.hasOwn(builtIn, name) ? builtIn[name]() : undefined;
}

export function loadBuiltInAgents(): Promise<Array<AgentDefinition>> {
  return Promise.all(builtInAgentNames.map((name) => builtIn[name]()));
}
