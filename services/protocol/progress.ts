import { Type, type Static } from 'typebox';
import Value from 'typebox/value';

/** The most text (or message) one progress chunk carries; longer text goes in several chunks. */
export const PROGRESS_TEXT_MAX = 16_384;

/**
 * What an agent reports while it works (ctx.progress): a status line, how far along it is, or a
 * piece of text to append (a model's tokens). Ephemeral: it is shown live and never stored.
 */
export const ProgressData = Type.Object(
  {
    message: Type.Optional(Type.String({ maxLength: 1_000 })),
    fraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    text: Type.Optional(Type.String({ maxLength: PROGRESS_TEXT_MAX })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type ProgressData = Static<typeof ProgressData>;

/** The problems with a would-be progress chunk, empty when it is one. */
export function progressProblems(data: unknown): string[] {
  if (Value.Check(ProgressData, data)) return [];
  return [...Value.Errors(ProgressData, data)].slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

/**
 * A progress chunk off the wire (JSON text or a parsed value), or undefined when it is not one: an
 * agent of another version, say. The caller leaves it out; progress is never fatal.
 */
export function progressFrom(value: unknown): ProgressData | undefined {
  let data = value;
  if (typeof value === 'string') {
    try {
      data = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return progressProblems(data).length === 0 ? (data as ProgressData) : undefined;
}

// The streamed form of POST /execute (Accept: application/x-ndjson): one JSON object a line, progress
// lines first, the answer last, with the status and body the plain reply would have had.
export const NDJSON = 'application/x-ndjson';

export type StreamedLine =
  { type: 'progress'; data: ProgressData } | { type: 'result'; status_code: number; body: Record<string, unknown>; replayed: boolean };

export const progressLine = (data: ProgressData): string => `${JSON.stringify({ type: 'progress', data })}\n`;

export const resultLine = (statusCode: number, body: Record<string, unknown>, replayed: boolean): string =>
  `${JSON.stringify({ type: 'result', status_code: statusCode, body, replayed })}\n`;
