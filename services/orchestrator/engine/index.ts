export { WorkflowNotifier } from './event-bus.ts';
export { createProgressHub, type ProgressHub, type StepProgress } from './progress-hub.ts';
export { Engine, type EngineOptions } from './engine.ts';
export type { Submission, Submitted } from './submission.ts';
export { ancestorsOf, descendantsOf, findCycles, findPlanProblems, normalizePlan, validatePlan } from './graph.ts';
export { fillWorkflowInput, referencedSteps, resolveInput, withoutStepRefs } from './input-refs.ts';
export { WorkflowRun, type StepResult, type WorkflowOutcome } from './workflow-run.ts';
