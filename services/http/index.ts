export { errorBody, errorHandlerPlugin, type ErrorBody } from './error-handler.ts';
export { healthPlugin, type HealthOptions } from './health.ts';
export { useStrictBodies } from './validation.ts';
