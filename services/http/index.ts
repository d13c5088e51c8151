export { errorBody, errorHandlerPlugin, type ErrorBody } from './error-handler.ts';
export { healthPlugin, type HealthOptions } from './health.ts';
export { bearerToken } from './bearer.ts';
export { serverUrl } from './server-url.ts';
export { useStrictBodies } from './validation.ts';
export { serverOptions, type ServerOptions } from './server-options.ts';
export { MAX_JSON_DEPTH, textProblem } from './text-guard.ts';
