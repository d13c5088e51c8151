export { createRegistry } from './metrics.ts';
export { lazyChild, loggerOptions, redactPaths, redactUrl, serverLogOptions } from './logger.ts';
export { contextFrom, startTracing, stopTracing, traceHeaders, traceIdOf, traceparentOf, tracer } from './tracing.ts';
