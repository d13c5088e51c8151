export { createRegistry } from './metrics.ts';
export { loggerOptions, redactPaths, redactUrl, serverLogOptions } from './logger.ts';
