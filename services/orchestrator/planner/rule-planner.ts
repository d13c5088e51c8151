import { AppError } from '../../errors/index.ts';
import type { Plan, PlanStep } from '../../state/index.ts';
import { stagesOf } from './clauses.ts';
import { LEAD_FILLERS } from './words.ts';
import { headVerb, namesWork, route, routingTable, type AgentProfile, type RoutingTable } from './routing-table.ts';

export type { AgentProfile } from './routing-table.ts';

interface Clause {
  text: string;
  agent: string;
}

/**
 * The step's task: the clause without the words before its verb ("first", "please", "we need to"),
 * its verb spelt right, so the agent reads what was meant ("Buld feature X" is "build feature X").
 */
function taskText(fragment: string, table: RoutingTable): string {
  const head = headVerb(fragment, table);
  let text = fragment;
  for (;;) {
    const first = /^\s*([A-Za-z']+)[\s,]+/.exec(text);
    if (!first || !LEAD_FILLERS.has(first[1].toLowerCase()) || (head && first[1].toLowerCase() === head.typo?.written)) break;
    const rest = text.slice(first[0].length);
    if (!rest.trim()) break;
    text = rest;
  }
  if (head?.typo) text = text.replace(new RegExp(`^(\\s*)${head.typo.written}\\b`, 'i'), `$1${head.typo.meant}`);
  return text;
}

/**
 * A fragment without a verb of its own continues the clause before it ("build a login page and a
 * signup form", "deploy redis and postgres"), unless it names other work ("build X and docs for it").
 */
function clausesOf(fragments: string[], table: RoutingTable): Clause[] {
  const clauses: Clause[] = [];
  for (const fragment of fragments) {
    const last = clauses.at(-1);
    const own = headVerb(fragment, table) !== undefined;
    const match = route(fragment, table);
    if (last && !own && (!match || match.agent === last.agent || !namesWork(fragment, table))) {
      last.text = `${last.text} and ${fragment}`;
      continue;
    }
    if (!match) throw unplannable(fragment, table.agents);
    clauses.push({ text: taskText(fragment, table), agent: match.agent });
  }
  return clauses;
}

/**
 * "A and B then C": A and B run side by side, C after both; each clause goes to the agent its verb
 * (or, lacking one, its nouns) asks for, with the clause as the step's task. Whether each step can
 * then run is the agents' to say (plan-check.ts).
 */
export function planFromDescription(description: string, agents: readonly AgentProfile[], input: Record<string, unknown> = {}): Plan {
  const table = routingTable(agents);
  const steps: PlanStep[] = [];
  const used = new Map<string, number>();
  let previous: string[] = [];
  for (const fragments of stagesOf(description)) {
    // A stage that opens without a verb ("then the docs") is read on its own, not as more of the last stage.
    const clauses = clausesOf(fragments, table);
    const ids = clauses.map(({ text, agent }) => {
      const n = (used.get(agent) ?? 0) + 1;
      used.set(agent, n);
      const id = n === 1 ? agent : `${agent}-${n}`;
      steps.push({ id, agent, description: text, input: { ...input, task: text }, depends_on: previous });
      return id;
    });
    previous = ids;
  }
  if (steps.length === 0)
    throw new AppError('UNPLANNABLE', 'the description has no subtasks', { details: { agents: agents.map(profileSummary) } });
  return { steps };
}

/** The agent a text asks for, as the planner reads a clause (for tools and tests). */
export function matchAgent(text: string, agents: readonly AgentProfile[]): { agent: string } | undefined {
  const r = route(text, routingTable(agents));
  return r ? { agent: r.agent } : undefined;
}

function unplannable(part: string, agents: readonly AgentProfile[]): AppError {
  const known = agents.map((a) => `${a.name} (${a.capabilities.slice(0, 4).join(', ')})`).join('; ');
  return new AppError('UNPLANNABLE', `no agent can do "${part}". Agents: ${known || 'none reachable'}`, {
    details: { part, agents: agents.map(profileSummary) },
  });
}

function profileSummary(a: AgentProfile) {
  return { name: a.name, capabilities: a.capabilities };
}
