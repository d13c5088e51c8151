export { errorBody, errorHandlerPlugin, nearestField, type ErrorBody } from './error-handler.ts';
export { healthPlugin, type HealthOptions } from './health.ts';
export { serverUrl } from './server-url.ts';
export { useStrictBodies } from './validation.ts';
export { serverOptions, type ServerOptions } from './server-options.ts';
export { MAX_JSON_DEPTH, textProblem } from './text-guard.ts';

/** The token of an `Authorization: Bearer <token>` value; undefined when it is not one. */
export function bearerToken(authorization: unknown): string | undefined {
  return typeof authorization === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
}
