import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/config/index.ts';
import { createLlmGateway } from '../../services/llm/index.ts';
import { planFromDescription } from '../../services/orchestrator/planner/index.ts';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { corpus, type CorpusEntry } from '../planner/corpus.ts';
import { builtInPlanner, planEntry } from '../planner/run-corpus.ts';

const planner = await builtInPlanner();
/** A model on the chat-completions double; closed when the test finishes. */
async function model() {
  const double = await startChatDouble();
  const config = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'planner-model', LLM_MAX_RETRIES: '0' });
  return { double, llm: createLlmGateway(config, new Registry()) };
}

/** The plan a model that understood the entry would answer, in the model's own form. */
function modelPlanFor(entry: CorpusEntry & { plan: string[] }) {
  const rules = planFromDescription(entry.description, planner.profiles, entry.input ?? {});
  return {
    steps: entry.plan.map((notation) => {
      const [id, deps] = notation.split('<') as [string, string | undefined];
      const step = rules.steps.find((s) => s.id === id)!;
      return { id, agent: step.agent, task: step.description!, depends_on: deps ? deps.split(',') : [] };
    }),
  };
}

const expected = (e: CorpusEntry) => e.plan ?? e.refused ?? e.unplannable;
const outcomeOf = (o: Awaited<ReturnType<typeof planEntry>>, e: CorpusEntry) => (e.plan ? o.plan : e.refused ? o.refused : o.unplannable);

describe('planner corpus through the model planner (chat-completions double): its validation, the checks and the fallback', () => {
  it('a model that answers the expected plan has it accepted as its own', async () => {
    const { double, llm } = await model();
    const runnable = corpus.filter((e): e is CorpusEntry & { plan: string[] } => e.plan !== undefined);
    for (const entry of runnable) {
      double.script({ content: JSON.stringify(modelPlanFor(entry)) });
      const outcome = await planEntry(entry, planner, llm);
      expect({ description: entry.description, plan: outcome.plan, planner: outcome.planner }).toEqual({
        description: entry.description,
        plan: entry.plan,
        planner: 'llm',
      });
    }
  }, 120_000);

  it('a model plan its agents refuse (everything on cicd, nothing to test) falls back to the rules, which give the expected answer', async () => {
    const { double, llm } = await model();
    for (const entry of corpus.filter((e) => !e.input?.files)) {
      double.script({ content: JSON.stringify({ steps: [{ id: 'all', agent: 'cicd', task: entry.description, depends_on: [] }] }) });
      const outcome = await planEntry(entry, planner, llm);
      expect({ description: entry.description, got: outcomeOf(outcome, entry) }).toEqual({
        description: entry.description,
        got: expected(entry),
      });
      // A plan that reached the checks fell back with the agents' reason; one nothing could plan never got that far.
      if (!entry.unplannable) expect(outcome.planner, entry.description).toBe('rules');
    }
  }, 120_000);

  it('an invalid model plan (an unknown agent) falls back to the rules too', async () => {
    const { double, llm } = await model();
    const entry = corpus.find((e) => e.description === 'Build feature Z then document feature Z')!;
    double.script({ content: JSON.stringify({ steps: [{ id: 'a', agent: 'wizard', task: 'magic', depends_on: [] }] }) });
    expect((await planEntry(entry, planner, llm)).plan).toEqual(entry.plan);
  });
});
