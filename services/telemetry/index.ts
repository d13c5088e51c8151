export { createRegistry } from './metrics.ts';
export { loggerOptions, redactPaths, redactUrl } from './logger.ts';
