// A step's input may use the outputs of the steps it depends on: a string that is exactly
// "{{steps.<id>.output.<path>}}" becomes the referenced value (any JSON type); inside a longer string
// the reference is replaced by its text.

const REF = /\{\{\s*steps\.([A-Za-z0-9_-]+)\.output((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;
const WHOLE = /^\{\{\s*steps\.([A-Za-z0-9_-]+)\.output((?:\.[A-Za-z0-9_-]+)*)\s*\}\}$/;

export function referencedSteps(input: unknown): Set<string> {
  const out = new Set<string>();
  walkStrings(input, (s) => {
    for (const m of s.matchAll(REF)) out.add(m[1]!);
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
    if (whole) return lookup(outputs.get(whole[1]!), whole[2]!);
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
