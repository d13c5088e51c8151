import { AppError } from '../../errors/index.ts';
import type { Plan, PlanStep } from '../../state/index.ts';

/** What the planner knows of an agent: only what the agent declares in GET /info. */
export interface AgentProfile {
  name: string;
  description?: string;
  capabilities: string[];
}

const STOPWORDS = new Set([
  'a',
  'an',
  'the',
  'for',
  'of',
  'to',
  'with',
  'on',
  'in',
  'into',
  'at',
  'by',
  'our',
  'my',
  'your',
  'its',
  'it',
  'this',
  'that',
  'these',
  'please',
  'new',
  'some',
  'all',
  'from',
  'as',
  'be',
  'is',
  'are',
  'we',
  'i',
  'us',
]);
const SUFFIXES: Array<[string, string]> = [
  ['ations', ''],
  ['ation', ''],
  ['ments', ''],
  ['ment', ''],
  ['ings', ''],
  ['ing', ''],
  ['ies', 'y'],
  ['ers', ''],
  ['er', ''],
  ['es', ''],
  ['ed', ''],
  ['s', ''],
];

export function stem(word: string): string {
  for (const [suffix, replacement] of SUFFIXES) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) return word.slice(0, -suffix.length) + replacement;
  }
  return word;
}

export function tokens(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((w) => !STOPWORDS.has(w)).map(stem);
}

interface Match {
  agent: string;
  score: number;
  phrases: string[];
}

/** Scores every agent by how much of each declared capability phrase the text contains. */
export function matchAgent(text: string, agents: readonly AgentProfile[]): Match | undefined {
  const words = new Set(tokens(text));
  let best: Match | undefined;
  for (const agent of agents) {
    let score = 0;
    const phrases: string[] = [];
    for (const phrase of [...agent.capabilities, agent.name.replace(/-/g, ' ')]) {
      const pt = tokens(phrase);
      const hit = pt.filter((t) => words.has(t)).length;
      if (hit === 0) continue;
      // A whole phrase ("deploy infrastructure") counts for more than scattered words.
      score += hit === pt.length ? hit * 2 : hit;
      phrases.push(phrase);
    }
    if (score > 0 && (!best || score > best.score)) best = { agent: agent.name, score, phrases };
  }
  return best;
}

const THEN = /\s*(?:[,;.]\s*)?\b(?:and\s+then|then|after\s+that|afterwards|finally)\b\s*/i;
const AND = /\s*(?:\band\b|&|\+|,)\s*/i;

/**
 * "A and B then C": A and B run in parallel, C after both. A fragment that matches no agent is
 * read as part of the one before it ("build a login page and signup form" is one subtask).
 */
export function planFromDescription(description: string, agents: readonly AgentProfile[], input: Record<string, unknown> = {}): Plan {
  const stages = description
    .split(THEN)
    .map((s) => s.trim())
    .filter(Boolean);
  const steps: PlanStep[] = [];
  const used = new Map<string, number>();
  let previous: string[] = [];
  for (const stage of stages) {
    const subtasks: Array<{ text: string; agent: string }> = [];
    for (const fragment of stage
      .split(AND)
      .map((f) => f.trim())
      .filter(Boolean)) {
      const match = matchAgent(fragment, agents);
      const last = subtasks.at(-1);
      if (match) subtasks.push({ text: fragment, agent: match.agent });
      else if (last) last.text = `${last.text} and ${fragment}`;
      else throw unplannable(fragment, agents);
    }
    const ids = subtasks.map(({ text, agent }) => {
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

function unplannable(part: string, agents: readonly AgentProfile[]): AppError {
  const known = agents.map((a) => `${a.name} (${a.capabilities.slice(0, 4).join(', ')})`).join('; ');
  return new AppError('UNPLANNABLE', `no agent can do "${part}". Agents: ${known || 'none reachable'}`, {
    details: { part, agents: agents.map(profileSummary) },
  });
}

function profileSummary(a: AgentProfile) {
  return { name: a.name, capabilities: a.capabilities };
}
