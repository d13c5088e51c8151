// Reads a feature spec written for people ("Create slugify(text: string): string that lowercases
// …") and pulls out what can be known without understanding it: the module's name, the function
// and class signatures written in it, and the sentence each came from. Signatures are checked with
// the TypeScript parser, so prose in parentheses ("retries (3)") is not mistaken for code.
import ts from 'typescript';

export interface ParamSpec {
  name: string;
  /** The type as written, or 'unknown' when the spec gives none. */
  type: string;
  optional: boolean;
  rest: boolean;
  /** Source text for the parameter list, e.g. "limit?: number". */
  text: string;
}

export interface FunctionSpec {
  kind: 'function';
  name: string;
  typeParams: string;
  params: ParamSpec[];
  returns: string;
  /** False when the spec named the function but wrote no signature, so one was assumed. */
  signatureGiven: boolean;
  returnGiven: boolean;
  async: boolean;
  sentence: string;
  description: string;
}

export interface ClassSpec {
  kind: 'class';
  name: string;
  ctorParams: ParamSpec[] | undefined;
  methods: FunctionSpec[];
  sentence: string;
  description: string;
}

export type ExportSpec = FunctionSpec | ClassSpec;

export interface ParsedSpec {
  moduleName: string | undefined;
  exports: ExportSpec[];
  firstSentence: string;
}

const notNames = new Set([
  'if',
  'for',
  'while',
  'switch',
  'catch',
  'function',
  'return',
  'typeof',
  'with',
  'e',
  'i',
  'eg',
  'ie',
  'etc',
  'see',
  'note',
  'and',
  'or',
]);

export function syntaxErrors(code: string): readonly ts.Diagnostic[] {
  return ts.transpileModule(code, { reportDiagnostics: true, compilerOptions: { target: ts.ScriptTarget.ES2024 } }).diagnostics ?? [];
}

export function isValidType(text: string): boolean {
  return text.trim() !== '' && syntaxErrors(`type __T = ${text};`).length === 0;
}

export function isIdentifier(name: string): boolean {
  return /^[A-Za-z_$][\w$]*$/.test(name) && syntaxErrors(`let ${name};`).length === 0;
}

export function splitSentences(text: string): string[] {
  return text
    .replace(/```[a-z]*\n?/g, '\n')
    .split(/\n\s*\n|\n\s*[-*]\s+|(?<=[.!?])\s+(?=[A-Z])/)
    .map((s) => s.replace(/\s+/g, ' ').replace(/`/g, '').trim())
    .filter((s) => s.length > 0);
}

/** Index just past the parenthesis that closes the one at `open`, or -1. */
function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) return c === ')' ? i + 1 : -1;
    } else if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end === -1) return -1;
      i = end;
    }
  }
  return -1;
}

/** The longest run of words after the signature that parses as a type ("string that …" → "string"). */
function leadingType(rest: string): string | undefined {
  const words = rest.trim().split(/\s+/).slice(0, 12);
  for (let n = words.length; n > 0; n--) {
    const candidate = words
      .slice(0, n)
      .join(' ')
      .replace(/[.,;:!?]+$/, '');
    if (isValidType(candidate)) return candidate;
  }
  return undefined;
}

export function paramsFrom(fn: ts.SignatureDeclarationBase, sf: ts.SourceFile): ParamSpec[] {
  return fn.parameters.map((p) => {
    const name = p.name.getText(sf);
    const type = p.type ? p.type.getText(sf) : 'unknown';
    const optional = p.questionToken !== undefined || p.initializer !== undefined;
    const rest = p.dotDotDotToken !== undefined;
    // An untyped parameter would be an implicit any under strict, so it is written as unknown
    // (one with a default keeps it: its type is inferred from the default).
    const text =
      p.type || p.initializer
        ? p.getText(sf)
        : `${rest ? '...' : ''}${name}${p.questionToken ? '?' : ''}: ${rest ? 'unknown[]' : 'unknown'}`;
    return { name, type: rest && !p.type ? 'unknown[]' : p.initializer && !p.type ? '' : type, optional, rest, text };
  });
}

interface RawSignature {
  owner: string | undefined;
  fn: FunctionSpec;
  /** Where the signature starts and ends in its sentence, return type included. */
  at: number;
  end: number;
}

function signaturesIn(sentence: string): RawSignature[] {
  const found: RawSignature[] = [];
  const re = /(?:\b(async)\s+)?(?:\b([A-Z][\w$]*)\.)?(?<![\w$.])([A-Za-z_$][\w$]*)\s*(<[^()]*?>)?\s*\(/g;
  for (const match of sentence.matchAll(re)) {
    const [whole, asyncWord, owner, name, typeParams = ''] = match;
    if (notNames.has(name.toLowerCase())) continue;
    const open = match.index + whole.length - 1;
    const close = closingParen(sentence, open);
    if (close === -1) continue;
    const after = /^\s*(?::|=>|->)\s*/.exec(sentence.slice(close));
    const returns = after ? leadingType(sentence.slice(close + after[0].length)) : undefined;
    const code = `declare function ${name}${typeParams}${sentence.slice(open, close)}: ${returns ?? 'unknown'};`;
    if (syntaxErrors(code).length > 0) continue;
    const sf = ts.createSourceFile('spec.ts', code, ts.ScriptTarget.ES2024, true);
    const decl = sf.statements[0];
    if (!decl || !ts.isFunctionDeclaration(decl)) continue;
    const returnText = returns ?? 'unknown';
    found.push({
      owner,
      at: match.index,
      end: after && returns !== undefined ? close + after[0].length + returns.length : close,
      fn: {
        kind: 'function',
        name,
        typeParams: decl.typeParameters ? `<${decl.typeParameters.map((t) => t.getText(sf)).join(', ')}>` : '',
        params: paramsFrom(decl, sf),
        returns: returnText,
        signatureGiven: true,
        returnGiven: returns !== undefined,
        async: asyncWord !== undefined || /^Promise\s*</.test(returnText),
        sentence,
        description: sentence,
      },
    });
  }
  return found;
}

/** Functions named without a signature: "a function called slugify", "helper named toTitle". */
function bareFunctionsIn(sentence: string): FunctionSpec[] {
  const out: FunctionSpec[] = [];
  for (const match of sentence.matchAll(/\b(?:function|method|helper)\s+(?:named\s+|called\s+)?([a-z_$][\w$]*)(?!\s*[(<\w$])/g)) {
    const name = match[1];
    if (notNames.has(name) || ['that', 'which', 'to', 'the', 'a', 'an', 'named', 'called', 'returning'].includes(name)) continue;
    out.push(assumedFunction(name, sentence));
  }
  return out;
}

export function assumedFunction(name: string, sentence: string): FunctionSpec {
  return {
    kind: 'function',
    name,
    typeParams: '',
    params: [{ name: 'input', type: 'unknown', optional: false, rest: false, text: 'input: unknown' }],
    returns: 'unknown',
    signatureGiven: false,
    returnGiven: false,
    async: false,
    sentence,
    description: sentence,
  };
}

const leadVerbs = /^(?:please\s+)?(?:build|implement|create|develop|write|add|scaffold|make|code|generate|introduce)\b\s*/i;
const fillers = new Set([
  'a',
  'an',
  'the',
  'new',
  'feature',
  'module',
  'simple',
  'small',
  'basic',
  'functionality',
  'code',
  'logic',
  'some',
  'function',
  'helper',
  'called',
  'named',
]);
const stops = new Set([
  'that',
  'which',
  'who',
  'with',
  'for',
  'to',
  'so',
  'using',
  'where',
  'when',
  'in',
  'from',
  'of',
  'by',
  'returning',
  'returns',
  'exporting',
  'exports',
  'and',
  'like',
  'such',
]);
const trailingKinds = new Set(['class', 'function', 'functions', 'method', 'module', 'feature', 'file']);

// A spec that names the thing wanted without a verb to ask for it: "a function that adds two numbers".
const wantedThing =
  /^\s*(?:an?|the)\s+(?:new\s+)?(?:(?:typescript|javascript|ts|js)\s+)?(?:function|helper|utility|module|class)\s+(?:that|which)\b/i;

const languages = new Set(['typescript', 'javascript', 'ts', 'js', 'node', 'nodejs']);
const relativePronouns = new Set(['that', 'which']);
const articles = new Set(['a', 'an', 'the']);

/** The verb of "a function that validates" as a command: validates → validate, applies → apply, matches → match. */
function imperative(verb: string): string {
  const irregular: Record<string, string> = { is: 'be', has: 'have', does: 'do', goes: 'go' };
  if (irregular[verb.toLowerCase()]) return irregular[verb.toLowerCase()];
  if (/ies$/i.test(verb)) return verb.slice(0, -3) + 'y';
  if (/(?:ss|sh|ch|x|z)es$/i.test(verb)) return verb.slice(0, -2);
  if (/[^s]s$/i.test(verb)) return verb.slice(0, -1);
  return verb;
}

/** "Build feature slugify utility that …" → "slugify utility". */
function featurePhrase(sentence: string, signatures: RawSignature[]): string | undefined {
  let text = sentence;
  // Signatures are cut out first so "Create slugify(text: string)" does not name the module "slugify text".
  for (const sig of [...signatures].sort((a, b) => b.at - a.at)) text = `${text.slice(0, sig.at)} ${text.slice(sig.end)}`;
  const stripped = text.replace(leadVerbs, '');
  if (stripped === text && !/^\s*(?:feature|module)\b/i.test(text) && !wantedThing.test(text)) return undefined;
  const words: string[] = [];
  // "a function that validates emails": what it does names it, with the verb as a command (validate).
  let relative = false;
  for (const raw of stripped.split(/\s+/)) {
    const word = raw.replace(/[^\w$-]/g, '');
    const lower = word.toLowerCase();
    if (words.length === 0 && (fillers.has(lower) || languages.has(lower) || stops.has(lower))) {
      relative ||= relativePronouns.has(lower);
      continue;
    }
    if (stops.has(lower)) break;
    if (articles.has(lower)) continue;
    if (word !== '') words.push(words.length === 0 && relative ? imperative(word) : word);
    if (words.length === 4 || /[,.:;—]$/.test(raw)) break;
  }
  while (words.length > 1 && trailingKinds.has(words.at(-1)!.toLowerCase())) words.pop();
  const phrase = words.filter((w) => /^[A-Za-z][\w$-]*$/.test(w)).join(' ');
  return phrase || undefined;
}

const pascal = (word: string): string => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * "GET /users/:id" → getUsersById(request: Request): Promise<Response>. A fetch-style handler is
 * the one shape every Node HTTP framework can mount, so the scaffold does not pick a framework.
 */
function endpointIn(sentence: string): { fn: FunctionSpec; module: string } | undefined {
  const match = /\b(GET|POST|PUT|PATCH|DELETE)\s+(\/[\w/:{}.-]*)/.exec(sentence);
  if (!match) return undefined;
  const segments = match[2].split('/').filter(Boolean);
  const words = segments.map((seg) => {
    const param = /^[:{]?([A-Za-z_]\w*)\}?$/.exec(seg);
    const clean = (param?.[1] ?? seg).replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''));
    return seg.startsWith(':') || seg.startsWith('{') ? `By${pascal(clean)}` : pascal(clean);
  });
  const name = `${match[1].toLowerCase()}${words.join('') || 'Root'}`;
  const params: ParamSpec[] = [{ name: 'request', type: 'Request', optional: false, rest: false, text: 'request: Request' }];
  return {
    module: `${match[1].toLowerCase()} ${segments.filter((s) => !/^[:{]/.test(s)).join(' ') || 'root'}`,
    fn: {
      kind: 'function',
      name,
      typeParams: '',
      params,
      returns: 'Promise<Response>',
      signatureGiven: true,
      returnGiven: true,
      async: true,
      sentence,
      description: `${match[1]} ${match[2]}: ${sentence}`,
    },
  };
}

export function kebab(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase();
}

const genericNouns = new Set([
  'utility',
  'utilities',
  'util',
  'utils',
  'helper',
  'helpers',
  'module',
  'service',
  'feature',
  'library',
  'lib',
  'tool',
  'function',
]);

/** The function a feature with no written signature is most likely to export ("slugify utility" → slugify). */
export function exportNameFor(phrase: string): string {
  const words = phrase.split(/[\s-]+/).filter(Boolean);
  const kept = words.filter((w) => !genericNouns.has(w.toLowerCase()));
  const chosen = kept.length > 0 ? kept : words;
  return chosen
    .map((w, i) => (i === 0 ? w.charAt(0).toLowerCase() + w.slice(1) : w.charAt(0).toUpperCase() + w.slice(1)))
    .join('')
    .replace(/[^\w$]/g, '');
}

export function parseSpec(text: string): ParsedSpec {
  const sentences = splitSentences(text);
  const classes = new Map<string, ClassSpec>();
  const functions = new Map<string, FunctionSpec>();
  let moduleName: string | undefined;

  for (const sentence of sentences) {
    const signatures = signaturesIn(sentence);
    const endpoint = signatures.length === 0 ? endpointIn(sentence) : undefined;
    if (endpoint && !functions.has(endpoint.fn.name)) functions.set(endpoint.fn.name, endpoint.fn);
    moduleName ??= endpoint?.module ?? featurePhrase(sentence, signatures);
    const classMatches = [...sentence.matchAll(/\bclass\s+([A-Z][\w$]*)|\b([A-Z][\w$]*)\s+class\b/g)];
    for (const m of classMatches) {
      const name = m[1] ?? m[2];
      if (!classes.has(name))
        classes.set(name, { kind: 'class', name, ctorParams: undefined, methods: [], sentence, description: sentence });
    }
    const classAt = classMatches[0]?.index ?? Infinity;
    const sentenceClass = classMatches[0] ? (classMatches[0][1] ?? classMatches[0][2]) : undefined;
    for (const sig of signatures) {
      // "Foo.bar(…)" is Foo's method; a signature after "class Foo" in the same sentence is too.
      const ownerName = sig.owner ?? (sentenceClass !== undefined && sig.at > classAt ? sentenceClass : undefined);
      const owner =
        ownerName !== undefined
          ? (classes.get(ownerName) ?? {
              kind: 'class' as const,
              name: ownerName,
              ctorParams: undefined,
              methods: [],
              sentence,
              description: sentence,
            })
          : undefined;
      if (owner) {
        classes.set(owner.name, owner);
        if (sig.fn.name === 'constructor') owner.ctorParams = sig.fn.params;
        else if (!owner.methods.some((m) => m.name === sig.fn.name)) owner.methods.push(sig.fn);
      } else if (!functions.has(sig.fn.name) && !classes.has(sig.fn.name)) functions.set(sig.fn.name, sig.fn);
    }
    for (const fn of bareFunctionsIn(sentence)) if (!functions.has(fn.name)) functions.set(fn.name, fn);
  }
  return { moduleName, exports: [...functions.values(), ...classes.values()], firstSentence: sentences[0] ?? '' };
}
