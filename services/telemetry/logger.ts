import { trace } from '@opentelemetry/api';
import { LogController, type FastifyBaseLogger, type FastifyServerOptions } from 'fastify';

// Paths pino blanks out wherever they appear in a log line: credentials never reach the logs.
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  '*.headers.authorization',
  'databaseUrl',
  'config.databaseUrl',
  '*.auth.adminKey',
  '*.auth.internalToken',
  '*.adminKey',
  '*.internalToken',
  '*.password',
  '*.apiKey',
  '*.token',
];

export function loggerOptions(level: string, service: string): FastifyServerOptions['logger'] {
  return {
    level,
    base: { service },
    redact: { paths: redactPaths, censor: '[redacted]' },
    // A line logged inside a traced call carries its trace id, to jump from a log line to the trace.
    mixin() {
      const c = trace.getActiveSpan()?.spanContext();
      return c && trace.isSpanContextValid(c) ? { traceId: c.traceId } : {};
    },
  };
}

/** postgres://user:secret@host/db -> postgres://user:***@host/db, for printing where things are. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/**
 * Logger options for a service. Per-request lines are off: at hundreds of calls a second they cost
 * more than the work; errors are still logged by the error handler.
 */
export function serverLogOptions(
  level: string,
  service: string,
): Pick<FastifyServerOptions, 'logger' | 'logController' | 'childLoggerFactory'> {
  return {
    logger: loggerOptions(level, service),
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger, bindings, opts) => lazyChild(() => logger.child(bindings, opts), opts.level ?? logger.level),
  };
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * A request's logger, made when the request first logs. Fastify makes one per request, and with
 * redaction on pino passes each one's bindings (the request id) through the redactor: under load
 * that was 9% of an agent's CPU (a profile of `npm run bench`), for loggers almost no request uses.
 */
function lazyChild(make: () => FastifyBaseLogger, level: string): FastifyBaseLogger {
  let child: FastifyBaseLogger | undefined;
  const real = () => (child ??= make());
  const logger = {
    get level() {
      return child?.level ?? level;
    },
    set level(to: string) {
      real().level = to;
    },
    child: (bindings, options) => real().child(bindings, options),
  } as FastifyBaseLogger;
  for (const name of LEVELS) logger[name] = (...args: Parameters<FastifyBaseLogger['info']>) => real()[name](...args);
  return logger;
}
