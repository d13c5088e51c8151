import { distance } from 'fastest-levenshtein';

// The planner's vocabulary. What an agent does comes from its declared capabilities; what is here is
// English: words that carry no meaning for routing, and how people phrase a request.

const STOPWORDS = new Set(
  'a an the for of to with on in into at by our my your its it this that these those please new some all from as be is are we i us'.split(
    ' ',
  ),
);

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

function stripOnce(word: string): string {
  for (const [suffix, replacement] of SUFFIXES) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) return word.slice(0, -suffix.length) + replacement;
  }
  // "update" and "updates" meet at "updat"; short words ("code") keep their e.
  return word.length > 4 && word.endsWith('e') ? word.slice(0, -1) : word;
}

/** A crude stemmer, applied until nothing changes, so "documentation", "documented" and "document" meet. */
export function stem(word: string): string {
  let current = word;
  for (let i = 0; i < 3; i++) {
    const next = stripOnce(current);
    if (next === current) break;
    current = next;
  }
  return current;
}

/** Words before a clause's verb that say nothing about the work ("please also build ..."). */
export const LEAD_FILLERS = new Set(
  (
    'please also then first finally next now and afterwards lastly kindly can could would should must you we i need want needs wants ' +
    "to let's lets go ahead just quickly"
  ).split(' '),
);

/**
 * English verbs, to read a capability: "review code" is the verb "review" and its object, "code
 * review" a noun phrase. A capability whose first word is not here is matched as a phrase only.
 */
export const KNOWN_VERBS = new Set(
  (
    'add apply approve audit build change check clean compile configure convert create debug delete deploy describe design detect ' +
    'develop document explain extend extract find fix format generate host implement improve install integrate launch lint localize ' +
    'migrate monitor optimize package patch plan port profile provision publish refactor release remove rename render reject release ' +
    'review rewrite run scaffold scan secure set ship sum summarize test translate type update upgrade validate verify write'
  )
    .split(' ')
    .map(stem),
);

/**
 * Verbs that say to do something without saying what ("run a code review", "do the docs"): the
 * object decides. "run" is also cicd's own verb; its phrases ("run tests") still match on the object.
 */
export const LIGHT_VERBS = new Set(['run', 'do', 'perform', 'execute', 'carry', 'get', 'have', 'make', 'start', 'kick', 'trigger']);

/**
 * How people say what capabilities say: a verb written at the head of a clause is read as these
 * words. Data, not agents: a new agent's capabilities need no entry here.
 */
export const VERB_SYNONYMS: Readonly<Record<string, string>> = {
  test: 'run test',
  retest: 'run test',
  docs: 'document',
  doc: 'document',
  ship: 'deploy',
  release: 'deploy',
  launch: 'deploy',
  host: 'deploy',
  spin: 'provision',
  setup: 'provision',
  stand: 'provision',
  code: 'write code',
  program: 'write code',
  refactor: 'fix',
  audit: 'audit',
  inspect: 'review',
  proofread: 'review',
  describe: 'document',
  typecheck: 'type check',
};

export const words = (text: string): string[] => text.toLowerCase().match(/[a-z0-9]+(?:'[a-z]+)?/g) ?? [];

/** The words that carry meaning, stemmed. */
export function tokens(text: string): string[] {
  return words(text)
    .filter((w) => !STOPWORDS.has(w))
    .map(stem);
}

/** Two letters side by side swapped ("reveiw"): the commonest typo, one slip, though Levenshtein counts two. */
function swapped(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  const diff = [...a].flatMap((c, i) => (c === b[i] ? [] : [i]));
  return diff.length === 2 && diff[1] === diff[0] + 1 && a[diff[0]] === b[diff[1]] && a[diff[1]] === b[diff[0]];
}

/**
 * The known word `word` was meant as, allowing a typo: one slip in a word of 4-6 letters, two in a
 * longer one ("documnet", "reveiw", "deplyo"). Short words must match exactly: "tset" could be anything.
 */
export function closest(word: string, known: Iterable<string>): string | undefined {
  let best: { word: string; d: number } | undefined;
  const allowed = word.length >= 7 ? 2 : word.length >= 4 ? 1 : 0;
  for (const k of known) {
    if (k === word) return k;
    if (allowed === 0 || Math.abs(k.length - word.length) > allowed) continue;
    const d = swapped(k, word) ? 1 : distance(k, word);
    if (d <= allowed && (!best || d < best.d)) best = { word: k, d };
  }
  return best?.word;
}
