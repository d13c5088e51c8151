export { matchAgent, planFromDescription, type AgentProfile } from './rule-planner.ts';
export { stem, tokens } from './words.ts';
export { planDescription, type PlanCheck, type Planned } from './llm-planner.ts';
export { checkPlan, refusedPlanError, type CheckedPlan, type StepChecker, type StepFinding } from './plan-check.ts';
