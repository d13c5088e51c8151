export {
  branchFor,
  branchNames,
  branchProblems,
  gatedSteps,
  hasBranches,
  loopSet,
  normalize,
  type BranchName,
  type NormalBranch,
  type Outcome,
} from './branches.ts';
export { decide } from './decide.ts';
export type { Command, DecideEnv, Decision, FinalState, Progress, RunEvent } from './vocabulary.ts';
export { attemptRow, idempotencyKey } from './records.ts';
export { heldByBudget } from './budget.ts';
export {
  addSpend,
  awaitedAgents,
  cloneState,
  expiry,
  freshState,
  stateFromRows,
  usesAgent,
  waitingSteps,
  type RunDefaults,
  type RunState,
  type Spend,
  type StepState,
} from './state.ts';
