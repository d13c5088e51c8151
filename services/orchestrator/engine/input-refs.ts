// A step's input may use the outputs of the steps it depends on: a string that is exactly
// "{{steps.<id>.output.<path>}}" becomes the referenced value (any JSON type); inside a longer string
// the reference is replaced by its text.

const REF = /\{\{\s*steps\.([A-Za-z0-9_-]+)\.output((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;
const WHOLE = /^\{\{\s*steps\.([A-Za-z0-9_-]+)\.output((?:\.[A-Za-z0-9_-]+)*)\s*\}\}$/;

export function referencedSteps(input: unknown): Set<string> {
  const out = new Set<string>();
  walkStrings(input, (s) => {
    for (const m of s.matchAll(REF)) out.add(m[1]);
  });
  return out;
}

export function resolveInput(input: Record<string, unknown>, outputs: ReadonlyMap<string, unknown>): Record<string, unknown> {
  return resolve(input, outputs) as Record<string, unknown>;
}

function resolve(value: unknown, outputs: ReadonlyMap<string, unknown>): unknown {
  if (typeof value === 'string') {
    if (!value.includes('{{')) return value;
    const whole = WHOLE.exec(value);
    if (whole) return lookup(outputs.get(whole[1]), whole[2]);
    return value.replace(REF, (_m, id: string, path: string) => {
      const v = lookup(outputs.get(id), path);
      return typeof v === 'string' ? v : JSON.stringify(v ?? null);
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, outputs));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, outputs)]));
  }
  return value;
}

/**
 * The input without what the steps before it will fill in (a whole-string "{{steps.x.output.y}}"):
 * what a step's agent is asked about before the run, when those values do not exist yet.
 */
export function withoutStepRefs(input: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => !(typeof v === 'string' && WHOLE.test(v))));
}

function lookup(output: unknown, path: string): unknown {
  let v = output;
  for (const key of path.split('.').filter(Boolean)) {
    if (v === null || typeof v !== 'object') return null;
    v = (v as Record<string, unknown>)[key];
  }
  return v ?? null;
}

function walkStrings(value: unknown, fn: (s: string) => void): void {
  if (typeof value === 'string') fn(value);
  else if (Array.isArray(value)) value.forEach((v) => walkStrings(v, fn));
  else if (value !== null && typeof value === 'object') Object.values(value).forEach((v) => walkStrings(v, fn));
}

// A named workflow's steps use the request's input: "{{input.<path>}}". They are filled in when the
// workflow is submitted; a whole-string reference to something the request did not give drops
// the key, so optional inputs stay optional.
const INPUT_REF = /\{\{\s*input((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;
const INPUT_WHOLE = /^\{\{\s*input((?:\.[A-Za-z0-9_-]+)*)\s*\}\}$/;
const MISSING = Symbol('missing');

export function fillWorkflowInput<T>(value: T, input: Record<string, unknown>): T {
  const out = fill(value, input);
  return (out === MISSING ? undefined : out) as T;
}

function fill(value: unknown, input: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    if (!value.includes('{{')) return value;
    const whole = INPUT_WHOLE.exec(value);
    if (whole) return lookupInput(input, whole[1]) ?? MISSING;
    return value.replace(INPUT_REF, (_m, path: string) => {
      const v = lookupInput(input, path);
      return v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, input)).filter((v) => v !== MISSING);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .map(([k, v]) => [k, fill(v, input)] as const)
        .filter(([, v]) => v !== MISSING),
    );
  }
  return value;
}

function lookupInput(input: Record<string, unknown>, path: string): unknown {
  let v: unknown = input;
  for (const key of path.split('.').filter(Boolean)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
