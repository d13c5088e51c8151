import { loadBuiltInAgents } from '../../agents/index.ts';
import { createAgentRuntime } from '../../agents/sdk/index.ts';
import { AppError } from '../../services/errors/index.ts';
import type { LlmGateway } from '../../services/llm/index.ts';
import {
  checkPlan,
  planDescription,
  refusedPlanError,
  type AgentProfile,
  type StepChecker,
} from '../../services/orchestrator/planner/index.ts';
import { offlineLlm } from '../../services/llm/index.ts';
import type { CorpusEntry } from './corpus.ts';

/** What planning an entry came to, in the corpus's notation: steps as "id<dep,dep", refused step ids, or the part nothing matched. */
export interface CorpusOutcome {
  plan?: string[];
  refused?: string[];
  unplannable?: string;
  planner?: string;
  message?: string;
}

export interface CorpusPlanner {
  profiles: AgentProfile[];
  checker: StepChecker;
}

/** The built-in agents as the orchestrator sees them (/info), asked in process (POST /check's code, without HTTP). */
export async function builtInPlanner(): Promise<CorpusPlanner> {
  const definitions = await loadBuiltInAgents();
  const runtimes = new Map(definitions.map((d) => [d.name, createAgentRuntime(d)]));
  return {
    profiles: definitions.map((d) => ({
      name: d.name,
      description: d.description,
      capabilities: d.capabilities,
      checks: d.check !== undefined,
      outputs: d.outputs ?? [],
    })),
    checker: async (agent, request) => runtimes.get(agent)?.check(request) ?? { unchecked: `no agent ${agent}` },
  };
}

export const stepNotation = (s: { id: string; depends_on: string[] }): string =>
  s.depends_on.length > 0 ? `${s.id}<${[...s.depends_on].sort().join(',')}` : s.id;

/** Plans an entry as POST /orchestrate would: the planner (a model when `llm` is one, else the rules), then the agents' checks. */
export async function planEntry(entry: CorpusEntry, planner: CorpusPlanner, llm: LlmGateway = offlineLlm): Promise<CorpusOutcome> {
  const { profiles, checker } = planner;
  try {
    const planned = await planDescription(
      entry.description,
      profiles,
      entry.input ?? {},
      llm,
      new Set(profiles.map((p) => p.name)),
      (plan) => checkPlan(plan, profiles, checker, entry.description),
    );
    const planner_ = String(planned.events[0]?.data?.planner ?? '');
    if (!planned.checked.runnable) {
      const err = refusedPlanError(planned.checked);
      return {
        refused: planned.checked.findings.filter((f) => f.verdict === 'refused').map((f) => f.step),
        planner: planner_,
        message: err.message,
      };
    }
    return { plan: planned.plan.steps.map(stepNotation), planner: planner_ };
  } catch (err) {
    if (err instanceof AppError && err.code === 'UNPLANNABLE')
      return { unplannable: String((err.details as { part?: string }).part), message: err.message };
    throw err;
  }
}

/** Whether an outcome is what the entry expects. */
export function matches(entry: CorpusEntry, outcome: CorpusOutcome): boolean {
  if (entry.plan) return JSON.stringify(outcome.plan) === JSON.stringify(entry.plan);
  if (entry.refused) return JSON.stringify(outcome.refused) === JSON.stringify(entry.refused);
  return outcome.unplannable === entry.unplannable;
}

/** The rule planner's accuracy on the corpus, for the bench. */
export async function corpusAccuracy(
  entries: readonly CorpusEntry[],
): Promise<{ right: number; total: number; wrong: string[]; ms: number }> {
  const planner = await builtInPlanner();
  const started = performance.now();
  const wrong: string[] = [];
  for (const entry of entries) if (!matches(entry, await planEntry(entry, planner))) wrong.push(entry.description);
  return { right: entries.length - wrong.length, total: entries.length, wrong, ms: performance.now() - started };
}
