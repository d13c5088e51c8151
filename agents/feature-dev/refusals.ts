// What feature-dev refuses from a spec's words: it writes a TypeScript module and its test from a
// spec. A spec that asks for something else (a Python script, a Dockerfile, tests of code it is not
// given) must be refused, not answered with a TypeScript scaffold named after it.

interface Foreign {
  /** Matches the thing asked for, in the words that name what is built. */
  pattern: RegExp;
  /** How the refusal names it. */
  what: string;
  /** Which agent here does that work instead, if one does. */
  instead?: string;
}

// A language names the work whatever the phrase ends with: "a Python parser" is Python.
const LANGUAGES: Array<[RegExp, string]> = [
  [/\bpython\b|\bdjango\b|\bflask\b|\bfastapi\b/i, 'Python'],
  // Capitalised or "golang": "go" is too often English ("go-to-definition", "log in, go to ...").
  [/\bGo\b(?![-'])|\bgolang\b/, 'Go'],
  [/\brust\b/i, 'Rust'],
  [/\bjava\b|\bspring boot\b/i, 'Java'],
  [/\bkotlin\b/i, 'Kotlin'],
  [/\bc#|\bcsharp\b|\.net\b/i, 'C#'],
  [/\bc\+\+|\bcpp\b/i, 'C++'],
  [/\bruby\b|\brails\b/i, 'Ruby'],
  [/\bphp\b|\blaravel\b/i, 'PHP'],
  [/\bswift\b/i, 'Swift'],
  [/\bscala\b/i, 'Scala'],
  [/\belixir\b/i, 'Elixir'],
  [/\bhaskell\b/i, 'Haskell'],
  [/\bperl\b/i, 'Perl'],
  [/\blua\b/i, 'Lua'],
  [/\bdart\b|\bflutter\b/i, 'Dart'],
];

// A file of another kind is the work only when the phrase ends with it ("a Dockerfile", "a SQL
// migration"); before a code noun it is what the code handles ("a Dockerfile linter", "a YAML parser").
const ARTIFACTS: Foreign[] = [
  { pattern: /\bdockerfiles?\b/i, what: 'a Dockerfile' },
  { pattern: /\bmakefiles?\b/i, what: 'a Makefile' },
  { pattern: /\bhelm\b/i, what: 'a Helm chart' },
  { pattern: /\b(?:kubernetes|k8s)\b.*\bmanifests?\b|\bmanifests?\b.*\b(?:kubernetes|k8s)\b/i, what: 'Kubernetes manifests' },
  { pattern: /\bgithub actions?\b|\bgitlab ci\b|\bjenkinsfile\b|\bci (?:pipeline|workflow|config)\b/i, what: 'a CI pipeline definition' },
  { pattern: /\bansible\b/i, what: 'an Ansible playbook' },
  { pattern: /\bnginx\b/i, what: 'an nginx configuration' },
  { pattern: /\bya?ml\b/i, what: 'a YAML file' },
  { pattern: /\bsql\b/i, what: 'SQL' },
  { pattern: /\bbash\b|\bshell\b|\bzsh\b|\bpowershell\b/i, what: 'a shell script' },
  { pattern: /\bchangelog\b|\brelease notes\b/i, what: 'a changelog' },
  { pattern: /\breadme\b|\btutorial\b|\bblog post\b/i, what: 'a document' },
  { pattern: /\b(?:docker[- ])?compose (?:file|stack|service)\b/i, what: 'a Compose file', instead: 'infrastructure' },
  { pattern: /\bterraform\b|\bcdktf\b/i, what: 'Terraform', instead: 'infrastructure' },
];

const CODE_NOUNS = new Set(
  'parser formatter builder validator linter generator library lib module function class utility util helper client wrapper converter tool cli endpoint api sdk reader writer loader serializer deserializer checker analyzer highlighter editor viewer extractor transformer renderer handler middleware plugin package'.split(
    ' ',
  ),
);

// What is being built: the words after the leading verb, up to the first word that starts saying
// what it does or is for ("a Python script | that parses CSV", "a Dockerfile | and a CI pipeline").
const LEAD =
  /^\s*(?:please\s+)?(?:write|create|build|add|generate|make|implement|develop|scaffold|set\s+up|setup|produce|code|prepare)\s+(?:me\s+)?/i;
const PHRASE_END = /\s(?:that|which|who|to|for|of|with|from|on|into|and|so|where|when|using|in|as|by)\s|[,.;:!?(]/i;
// "... in Go", "... using Python", "written in Rust": the language of the whole piece of work.
const IN_LANGUAGE = /\b(?:in|using)\s+([A-Za-z#+.]+)/g;

export interface NotTypeScript {
  /** What the spec asks for ("a Python program", "a Dockerfile"). */
  what: string;
  instead?: string;
}

/** What the spec asks to be built when that is not TypeScript; undefined when it is, or when the spec does not say. */
export function notTypeScript(spec: string): NotTypeScript | undefined {
  // Said outright: "a TypeScript function that parses Dockerfiles" is TypeScript.
  if (/\btypescript\b/i.test(spec)) return undefined;
  for (const sentence of sentencesOf(spec)) {
    const object = objectOf(sentence);
    const found = object === undefined ? undefined : foreignIn(object);
    if (found) return found;
    for (const m of sentence.matchAll(IN_LANGUAGE)) {
      const language = LANGUAGES.find(([p]) => p.test(m[1]));
      if (language) return { what: `${language[1]} code` };
      if (/^(?:bash|shell|zsh|powershell)$/i.test(m[1])) return { what: 'a shell script' };
    }
  }
  return undefined;
}

const sentencesOf = (text: string) => text.split(/(?<=[.!?])\s+|\n+/);

/** The words naming what a sentence asks to be built ("a Python script"), if it opens with a verb of building. */
function objectOf(sentence: string): string | undefined {
  const lead = LEAD.exec(sentence);
  if (!lead) return undefined;
  const rest = sentence.slice(lead[0].length);
  const end = PHRASE_END.exec(` ${rest}`);
  return end ? rest.slice(0, Math.max(0, end.index - 1)) : rest;
}

const headOf = (object: string) => object.trim().split(/\s+/).pop()?.toLowerCase() ?? '';
const isCodeNoun = (head: string) => [head, head.replace(/ies$/, 'y'), head.replace(/s$/, '')].some((h) => CODE_NOUNS.has(h));

/** "Fix the findings", "apply the fixes", "address the review comments": work that starts from a review's findings. */
export function asksForFixes(text: string): boolean {
  return /^\s*(?:please\s+)?(?:fix|apply|address|resolve)\b.*\b(?:findings?|fixes|review|comments|lint(?:\s+(?:errors|warnings))?)\b/i.test(
    text,
  );
}

// A change to code described in words ("fix the bug in login", "refactor the payment module"):
// feature-dev builds new modules and applies a review's findings, and neither is that.
const CHANGE =
  /^\s*(?:please\s+)?(?:fix|debug|refactor|repair|optimi[sz]e|rewrite|clean\s*up|improve|speed\s+up|upgrade|rename|simplify)\b/i;

/** "Write unit tests for the slugify function": tests of code the spec does not give, which a scaffold cannot be. */
export function asksForTestsOnly(spec: string): boolean {
  return sentencesOf(spec).some((sentence) => {
    const object = objectOf(sentence);
    // The tests are the thing asked for, not a word about it ("a test runner" is a module).
    return object !== undefined && /^(?:tests?|suites?|cases|specs?)$/.test(headOf(object)) && /\b(?:tests?|specs?)\b/i.test(object);
  });
}

function foreignIn(object: string): NotTypeScript | undefined {
  const language = LANGUAGES.find(([p]) => p.test(object));
  if (language) return { what: `${language[1]} code` };
  if (isCodeNoun(headOf(object))) return undefined;
  const artifact = ARTIFACTS.find((a) => a.pattern.test(object));
  if (!artifact) return undefined;
  return artifact.instead ? { what: artifact.what, instead: artifact.instead } : { what: artifact.what };
}

/** The refusal, with what to do instead. */
export function notTypeScriptReason(found: NotTypeScript): { reason: string; fix: string } {
  return {
    reason: `feature-dev writes TypeScript modules only, and this asks for ${found.what}`,
    fix: found.instead
      ? `ask ${found.instead} for it (its capabilities name it), or ask feature-dev for a TypeScript module`
      : `no agent here writes ${found.what}; for a TypeScript module ask for one ("build feature csv parser", ` +
        `"create parseCsv(text: string): string[][]"), saying "TypeScript" if the words read otherwise`,
  };
}

/**
 * The refusal of a spec read from text, or undefined. An explicit choice (input.language, the
 * exports' signatures, a module name) is not second-guessed from the words.
 */
export function refusalOfText(
  input: { language?: string | undefined; exports?: readonly unknown[] | undefined; module?: string | undefined },
  text: string,
): { reason: string; fix: string } | undefined {
  if (input.language !== undefined || input.exports?.length || input.module) return undefined;
  if (CHANGE.test(text) && !asksForFixes(text))
    return {
      reason:
        'feature-dev builds new modules from a spec and applies the findings of a review; it does not change code from a description of the change',
      fix: 'put a review first and fix its findings ("review the code then fix the findings"), or describe a new module to build',
    };
  if (asksForTestsOnly(text))
    return {
      reason: 'feature-dev writes a module and its test from a spec, and this asks for tests of code it is not given',
      fix: 'ask for the module ("create slugify(text: string): string"), whose test comes with it; to run tests you have, pass them with the code to cicd ("run the tests")',
    };
  const found = notTypeScript(text);
  return found ? notTypeScriptReason(found) : undefined;
}
