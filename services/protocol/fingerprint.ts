import { createHash } from 'node:crypto';

/**
 * What makes two calls with one idempotency key "the same": the step and its input, with object
 * keys sorted. Key order is not meaning: an input that went through Postgres jsonb (a resumed
 * workflow re-sends it from the database) comes back with its keys reordered.
 */
export function callFingerprint(stepId: string, input: unknown): string {
  return createHash('sha1').update(stepId).update('\0').update(canonicalJson(input)).digest('base64');
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
