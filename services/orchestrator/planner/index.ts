export { matchAgent, planFromDescription, stem, tokens, type AgentProfile } from './rule-planner.ts';
export { planDescription, type Planned } from './llm-planner.ts';
