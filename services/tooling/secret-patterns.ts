// Heuristics for credentials written into source. They err towards silence on ordinary strings:
// a false "hardcoded-secret" error blocks an approval, so names and values must both look secret.

const SECRET_NAME =
  /(?:passw(?:or)?d|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key)/i;

// Names that mention a secret but hold metadata about it (a header name, a label, a URL).
const METADATA_NAME =
  /(?:type|name|field|header|label|url|uri|path|file|prefix|suffix|pattern|regex|length|env|var|key_?name|id|placeholder|message|error|text|hint|endpoint|scope|kind|format)s?$/i;

const KNOWN_KEY_PATTERNS: ReadonlyArray<{ label: string; pattern: RegExp }> = [
  { label: 'AWS access key id', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { label: 'GitHub token', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/ },
  { label: 'Slack token', pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/ },
  { label: 'Stripe secret key', pattern: /\b(?:sk|rk)_live_[A-Za-z0-9]{20,}/ },
  { label: 'Google API key', pattern: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { label: 'OpenAI-style API key', pattern: /\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}/ },
  { label: 'private key block', pattern: /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/ },
  { label: 'JSON web token', pattern: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/ },
  { label: 'URL with an embedded password', pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]+:[^\s@/]{3,}@/i },
];

/** The label of a well-known credential format found in `value`, if any. */
export function knownKeyPattern(value: string): string | undefined {
  return KNOWN_KEY_PATTERNS.find(({ pattern }) => pattern.test(value))?.label;
}

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !METADATA_NAME.test(name);
}

/** Whether a string assigned to a secret-looking name looks like a real value, not a label or placeholder. */
export function looksLikeSecretValue(value: string, name: string): boolean {
  if (value.length < 4 || /\s/.test(value)) return false;
  if (/^\$\{.*\}$|^<.*>$|^%.*%$|^\*+$|^x+$/i.test(value)) return false;
  // `const passwordField = 'password'`, `token = 'TOKEN'`: the value repeats the name.
  const lower = value.toLowerCase();
  const words = name.split(/[_-]+|(?<=[a-z0-9])(?=[A-Z])/).map((w) => w.toLowerCase());
  return !words.includes(lower) && lower !== name.toLowerCase();
}
