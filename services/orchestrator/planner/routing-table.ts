import { closest, KNOWN_VERBS, LEAD_FILLERS, LIGHT_VERBS, stem, tokens, VERB_SYNONYMS, words } from './words.ts';

/** What the planner knows of an agent: only what the agent declares in GET /info. */
export interface AgentProfile {
  name: string;
  description?: string;
  capabilities: string[];
  /** It answers POST /check. */
  checks?: boolean;
  /** Output fields every answer carries ("files"). */
  outputs?: string[];
}

interface Phrase {
  agent: string;
  /** The capability's verb, stemmed ("review" of "review code"); absent for a noun phrase ("code review"). */
  verb?: string;
  /** Its words, stemmed, verb included: "documentation" in a request is the verb "document" as a noun. */
  all: string[];
}

/** One table for every agent: its verbs and phrases, read from its capabilities. */
export interface RoutingTable {
  agents: readonly AgentProfile[];
  phrases: Phrase[];
  /** Stemmed verb → the agents that declare it, in declared order. */
  verbs: Map<string, string[]>;
  /** Each verb as written → its stem, to read a typo against the written form ("implment"). */
  written: Map<string, string>;
}

export function routingTable(agents: readonly AgentProfile[]): RoutingTable {
  const phrases: Phrase[] = [];
  const verbs = new Map<string, string[]>();
  const written = new Map<string, string>();
  for (const agent of agents) {
    for (const capability of [...agent.capabilities, agent.name.replace(/-/g, ' ')]) {
      const all = tokens(capability);
      if (all.length === 0) continue;
      const raw = words(capability)[0] ?? '';
      const first = stem(raw);
      const verb = all.length > 1 && KNOWN_VERBS.has(first) ? first : undefined;
      if (verb) written.set(raw, verb);
      phrases.push({ agent: agent.name, all, ...(verb ? { verb } : {}) });
      if (verb && !verbs.get(verb)?.includes(agent.name)) verbs.set(verb, [...(verbs.get(verb) ?? []), agent.name]);
    }
  }
  return { agents, phrases, verbs, written };
}

export interface Route {
  agent: string;
  /** How the clause was read: by its verb, by the object of a verb that says nothing ("run", "do"), or by its nouns. */
  by: 'verb' | 'object' | 'noun';
  verb?: string;
}

/** Each of an agent's words found counts once, and each whole phrase found once more per word ("code review"). */
function overlap(table: RoutingTable, agent: string, have: ReadonlySet<string>, skip?: string): number {
  const found = new Set<string>();
  let whole = 0;
  for (const p of table.phrases) {
    if (p.agent !== agent) continue;
    const want = p.all.filter((w) => w !== skip);
    const hit = want.filter((w) => have.has(w));
    for (const w of hit) found.add(w);
    if (hit.length > 1 && hit.length === want.length) whole += hit.length;
  }
  return found.size + whole;
}

/** Whether one of the agent's phrases is all there ("terraform", "code review"), not only a word of it. */
function wholePhrase(table: RoutingTable, agent: string, have: ReadonlySet<string>): boolean {
  return table.phrases.some((p) => p.agent === agent && p.all.every((w) => have.has(w)));
}

function best(table: RoutingTable, candidates: readonly string[], have: ReadonlySet<string>, skip?: string) {
  let top: { agent: string; score: number } | undefined;
  for (const agent of candidates) {
    const score = overlap(table, agent, have, skip);
    if (!top || score > top.score) top = { agent, score };
  }
  return top;
}

/** The clause's head: the first word after fillers, read through synonyms and typos. */
export interface Head {
  verb: string;
  /** The words after it. */
  rest: string[];
  /** Words a synonym brings ("test" is "run test"). */
  implied?: string[];
  /** The head as written, when it was a typo, and the word meant ("Buld" → "build"). */
  typo?: { written: string; meant: string };
}

export function headVerb(clause: string, table: RoutingTable): Head | undefined {
  const ws = words(clause);
  let i = 0;
  while (i < ws.length - 1 && LEAD_FILLERS.has(ws[i])) i++;
  const head = ws[i];
  if (head === undefined) return undefined;
  const rest = ws.slice(i + 1);
  const synonym = VERB_SYNONYMS[head] ?? VERB_SYNONYMS[closest(head, Object.keys(VERB_SYNONYMS)) ?? ''];
  if (synonym) {
    // "test X" is "run test X": the implied object ("test") says more than the written one.
    const [verb, ...implied] = synonym.split(' ');
    return { verb: stem(verb), rest: [...implied, ...rest], implied };
  }
  const known = new Set([...table.verbs.keys(), ...LIGHT_VERBS]);
  const exact = stem(head);
  if (known.has(exact)) {
    // A crude stem can hide a typo ("implment" and "implement" both stem to "impl"): an inflection
    // starts with the written verb, a typo does not.
    const writtenAs = [...table.written].find(([w, v]) => v === exact && !head.startsWith(w.slice(0, -1)))?.[0];
    const inflected = [...table.written].some(([w, v]) => v === exact && head.startsWith(w.slice(0, -1)));
    return { verb: exact, rest, ...(writtenAs && !inflected ? { typo: { written: head, meant: writtenAs } } : {}) };
  }
  const meant = closest(head, [...table.written.keys(), ...LIGHT_VERBS]);
  if (!meant) return undefined;
  return { verb: table.written.get(meant) ?? meant, rest, typo: { written: head, meant } };
}

/**
 * Which agent a clause asks for. The verb decides ("document feature Z" is documentation, "deploy the
 * docs site" infrastructure); among agents sharing a verb, and after a verb that says nothing
 * ("run a code review"), the object does; a clause without a verb ("feature Z documentation") goes by
 * its nouns, where a word that is some agent's verb ("documentation", "review") weighs most.
 */
export function route(clause: string, table: RoutingTable): Route | undefined {
  const head = headVerb(clause, table);
  const all = new Set(table.agents.map((a) => a.name));
  if (head && !LIGHT_VERBS.has(head.verb)) {
    const candidates = table.verbs.get(head.verb) ?? [];
    const object = new Set(tokens(head.rest.join(' ')));
    const top = best(table, candidates, object, head.verb);
    // The object overrides the verb only when it plainly names another agent's work and not this
    // one's ("create a terraform stack for a droplet"); "document feature Z" stays documentation.
    const other = best(
      table,
      [...all].filter((a) => !candidates.includes(a)),
      object,
    );
    if (other && other.score >= 2 && other.score > (top?.score ?? 0) + 1 && wholePhrase(table, other.agent, object))
      return { agent: other.agent, by: 'object', verb: head.verb };
    if (top) return { agent: top.agent, by: 'verb', verb: head.verb };
  }
  if (head && LIGHT_VERBS.has(head.verb)) {
    const implied = head.implied?.length ? best(table, [...all], new Set(tokens(head.implied.join(' '))), head.verb) : undefined;
    if (implied && implied.score > 0) return { agent: implied.agent, by: 'object', verb: head.verb };
    const object = new Set(tokens(head.rest.join(' ')));
    const top = best(table, [...all], object, head.verb);
    if (top && top.score > 0) return { agent: top.agent, by: 'object', verb: head.verb };
    const own = table.verbs.get(head.verb)?.[0];
    if (own) return { agent: own, by: 'verb', verb: head.verb };
    return undefined;
  }
  return byNouns(clause, table);
}

// The head of a noun phrase is its last word before a preposition: "CI for the payments service" is
// about CI, "feature Z documentation" about documentation.
const PREPOSITION = /\b(?:for|of|on|in|to|with|about|from|using|via)\b/i;

/**
 * A clause without a verb: the words of its head, then of the whole clause, against every phrase;
 * a word that is some agent's verb ("documentation", "review") counts three times.
 */
export function byNouns(clause: string, table: RoutingTable): Route | undefined {
  const head = clause.split(PREPOSITION)[0];
  return nounScore(head, table) ?? nounScore(clause, table);
}

function nounScore(text: string, table: RoutingTable): Route | undefined {
  const have = new Set(tokens(text));
  let top: { agent: string; score: number } | undefined;
  for (const agent of table.agents) {
    let score = overlap(table, agent.name, have);
    for (const [verb, agents] of table.verbs) if (have.has(verb) && agents.includes(agent.name)) score += 3;
    if (score > 0 && (!top || score > top.score)) top = { agent: agent.name, score };
  }
  return top ? { agent: top.agent, by: 'noun' } : undefined;
}

/** Whether a fragment names work of its own (an agent's verb as a noun), not only more objects for the clause before it. */
export function namesWork(fragment: string, table: RoutingTable): boolean {
  return tokens(fragment).some((w) => table.verbs.has(w));
}
