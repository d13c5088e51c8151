import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { closest, distance } from 'fastest-levenshtein';
import { AppError, type ErrorCode } from '../errors/index.ts';

export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  details?: Record<string, unknown>;
}

// Postgres (or the way to it) is down or refusing: class 08 (connection), 57P0x (shutting down,
// starting up), 53300 (too many connections), and the socket-level failures of the pg driver.
const DATABASE_DOWN = /^(08...|57P0[1-3]|53300|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH)$/;
const DATABASE_DOWN_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/;

/** Seconds a client should wait before trying again while the database is unavailable. */
export const DATABASE_RETRY_AFTER_S = 5;

export function isDatabaseDown(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (
    (typeof e?.code === 'string' && DATABASE_DOWN.test(e.code)) || (typeof e?.message === 'string' && DATABASE_DOWN_MESSAGE.test(e.message))
  );
}

// Fastify's own errors carry FST_ codes; callers get ours, with the same status.
function normalize(err: FastifyError | AppError | Error, bodyLimit: number, schema?: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseDown(err))
    return new AppError('DATABASE_UNAVAILABLE', 'the database cannot be reached right now; nothing was changed, try again shortly', {
      cause: err,
    });
  const fe = err as FastifyError;
  if (fe.validation) {
    const errors = schemaProblems(fe.validationContext ?? 'body', fe.validation, schema);
    return new AppError('VALIDATION_FAILED', errors[0]?.message ?? fe.message, {
      details: { ...(errors[0] ? { field: errors[0].field } : {}), errors },
    });
  }
  const mapping: Record<string, ErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
    FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  };
  const code = fe.code ? mapping[fe.code] : undefined;
  if (code === 'BODY_TOO_LARGE') return new AppError(code, `request body is larger than the limit of ${bodyLimit} bytes`);
  if (code) return new AppError(code, fe.message);
  if (err instanceof SyntaxError && fe.statusCode === 400) return new AppError('INVALID_JSON', `body is not valid JSON: ${err.message}`);
  if (fe.statusCode && fe.statusCode < 500) {
    return new AppError('VALIDATION_FAILED', fe.message, { statusCode: fe.statusCode });
  }
  return new AppError('INTERNAL', 'internal error', { cause: err });
}

type SchemaError = NonNullable<FastifyError['validation']>[number];

/**
 * Schema errors as sentences naming the field, as the caller wrote it (plan.steps[0].agent; the
 * body, query or path itself when the problem is the whole of it). Ajv's own say "must NOT have
 * additional properties" of the object, not which field it did not expect, "must be equal to one
 * of the allowed values" without them, and a union of literals fails once per literal: one sentence
 * per field and problem here.
 */
function schemaProblems(
  context: string,
  all: readonly SchemaError[],
  schema: unknown,
): Array<{ path: string; field: string; message: string }> {
  const out = new Map<string, { path: string; field: string; message: string }>();
  for (const v of all) {
    // The union's own error adds nothing to what its members said at the same place.
    if (v.keyword === 'anyOf' && all.some((o) => o !== v && o.instancePath === v.instancePath)) continue;
    const said = schemaProblem(context, v, all, schema);
    out.set(said.message, { path: v.instancePath, ...said });
  }
  return [...out.values()];
}

function schemaProblem(context: string, v: SchemaError, all: readonly SchemaError[], schema: unknown): { field: string; message: string } {
  const at = v.instancePath
    .slice(1)
    .replace(/\/(\d+)(?=\/|$)/g, '[$1]')
    .replace(/^(\d+)/, '[$1]')
    .replaceAll('/', '.');
  const params = v.params;
  const child = (name: unknown) => (at ? `${at}.${String(name)}` : String(name));
  if (v.keyword === 'additionalProperties') {
    const field = child(params.additionalProperty);
    return {
      field,
      message: `${field} is not a field this route takes${fieldsHint(String(params.additionalProperty), schema, v.schemaPath)}`,
    };
  }
  if (v.keyword === 'required') {
    const field = child(params.missingProperty);
    return { field, message: `${field} is required` };
  }
  const field = at || context;
  const listed = (values: unknown[]) => values.map((x) => JSON.stringify(x)).join(', ');
  if (v.keyword === 'enum' && Array.isArray(params.allowedValues))
    return { field, message: `${field} must be one of ${listed(params.allowedValues)}` };
  if (v.keyword === 'const') {
    // A union of literals ("fail" | "wait") fails once per literal, all at the same place.
    const allowed = all.filter((o) => o.keyword === 'const' && o.instancePath === v.instancePath).map((o) => o.params.allowedValue);
    return { field, message: `${field} must be ${allowed.length > 1 ? 'one of ' : ''}${listed(allowed)}` };
  }
  return { field, message: `${field} ${v.message ?? 'is not valid'}` };
}

/**
 * What the caller may have meant by a field the route does not take: the route's own field one slip
 * away ("agnet": agent), or else the fields it takes at that place ("task": description, plan, ...).
 * Read from the route's schema along the error's schema path; nothing when the path cannot be followed.
 */
function fieldsHint(unexpected: string, schema: unknown, schemaPath: string): string {
  let at = schema;
  for (const key of schemaPath.replace(/^#\//, '').split('/').slice(0, -1)) {
    if (typeof at !== 'object' || at === null) return '';
    at = (at as Record<string, unknown>)[decodeURIComponent(key.replaceAll('~1', '/').replaceAll('~0', '~'))];
  }
  const properties = (at as { properties?: unknown } | undefined)?.properties;
  return nearestField(unexpected, typeof properties === 'object' && properties !== null ? Object.keys(properties) : []);
}

/** "; did you mean agent?" when one of `fields` is a slip away from `unexpected`, else "; it takes a, b, ..." ("" for none). */
export function nearestField(unexpected: string, fields: readonly string[]): string {
  if (fields.length === 0) return '';
  // Two letters typed the wrong way round are one slip, which Levenshtein counts as two ("wiat": wait).
  const swapped = fields.find((f) => swapsTwo(unexpected.toLowerCase(), f.toLowerCase()));
  if (swapped) return `; did you mean ${swapped}?`;
  const near = closest(unexpected, fields);
  if (distance(unexpected.toLowerCase(), near.toLowerCase()) <= (near.length >= 5 ? 2 : 1)) return `; did you mean ${near}?`;
  return `; it takes ${fields.join(', ')}`;
}

/** `a` is `b` with two neighbouring letters the other way round. */
function swapsTwo(a: string, b: string): boolean {
  if (a.length !== b.length || a === b) return false;
  let i = 0;
  while (a[i] === b[i]) i++;
  return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
}

export function errorBody(err: AppError): ErrorBody {
  return {
    statusCode: err.statusCode,
    code: err.code,
    error: STATUS_CODES[err.statusCode] ?? 'Error',
    message: err.message,
    ...(err.details ? { details: err.details } : {}),
  };
}

/** One error shape for every route: {statusCode, code, error, message, details?}. */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    const bodyLimit = app.initialConfig.bodyLimit ?? 1_048_576;
    app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
      const part = (err as FastifyError).validationContext ?? 'body';
      const appErr = normalize(err, bodyLimit, (request.routeOptions.schema as Record<string, unknown> | undefined)?.[part]);
      if (appErr.code === 'DATABASE_UNAVAILABLE') void reply.header('retry-after', String(DATABASE_RETRY_AFTER_S));
      if (appErr.statusCode >= 500 && appErr.code !== 'DATABASE_UNAVAILABLE') request.log.error({ err }, appErr.message);
      else if (appErr.code === 'DATABASE_UNAVAILABLE') request.log.warn({ err: (err as Error).message }, appErr.message);
      void reply.status(appErr.statusCode).send(errorBody(appErr));
    });
    app.setNotFoundHandler((request, reply) => {
      const err = new AppError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
      void reply.status(404).send(errorBody(err));
    });
  },
  { name: 'agentic-mesh-errors' },
);
