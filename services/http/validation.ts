import { Ajv, type Options } from 'ajv';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { AppError } from '../errors/index.ts';
import { MAX_JSON_DEPTH, textProblem } from './text-guard.ts';

const base: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };

/**
 * Bodies are checked strictly (42 is not a string); query strings, params and headers arrive as
 * text, so they are coerced (limit=20 is a number). Before any of that, a JSON body, the query
 * string and path parameters are refused (400) if they hold text Postgres cannot store or nest
 * deeper than MAX_JSON_DEPTH: bad input never reaches a handler, the planner or the database.
 */
export function useStrictBodies(app: FastifyInstance): void {
  const strict = new Ajv({ ...base, coerceTypes: false });
  const lenient = new Ajv({ ...base, coerceTypes: 'array' });
  app.setValidatorCompiler<FastifySchema>(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema as object));

  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    void json(request, body as string, (err, value) => {
      // V8's parser gives up on very deep nesting with a RangeError: that is a body too deep, not a bug.
      if (err instanceof RangeError) return done(new AppError('TOO_DEEP', `body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      if (err) return done(err, undefined);
      const problem = textProblem(value, 'body');
      return problem ? done(problem, undefined) : done(null, value);
    });
  });
  app.addHook('preValidation', async (request) => {
    const problem = textProblem(request.query, 'querystring') ?? textProblem(request.params, 'params');
    if (problem) throw problem;
  });
}
