export { matchAgent, planFromDescription, stem, tokens, type AgentProfile } from './rule-planner.ts';
