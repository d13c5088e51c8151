import { Ajv, type Options } from 'ajv';
import type { FastifyInstance, FastifySchema } from 'fastify';

const base: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };

/**
 * Bodies are checked strictly (42 is not a string); query strings, params and headers arrive as
 * text, so they are coerced (limit=20 is a number).
 */
export function useStrictBodies(app: FastifyInstance): void {
  const strict = new Ajv({ ...base, coerceTypes: false });
  const lenient = new Ajv({ ...base, coerceTypes: 'array' });
  app.setValidatorCompiler<FastifySchema>(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema as object));
}
