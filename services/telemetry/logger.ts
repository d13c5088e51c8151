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

const LEVELS = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 } as const;
type LevelName = keyof typeof LEVELS;
type LogArgs = Parameters<FastifyBaseLogger['info']>;

/**
 * A logger made when it first writes a line. Fastify makes one per request, the agent runtime one
 * per call (with the call's key), and with redaction on pino passes each one's bindings through the
 * redactor: under load that was 9% of an agent's CPU (profiles of `npm run bench`), for loggers
 * almost no request writes to. A line below `level` makes nothing.
 */
export function lazyChild(make: () => FastifyBaseLogger, level: string): FastifyBaseLogger {
  return new LazyLogger(make, level);
}

// A class, not an object literal with a closure per level: one is made per request and per call.
class LazyLogger implements FastifyBaseLogger {
  #made: FastifyBaseLogger | undefined;
  readonly #make: () => FastifyBaseLogger;
  readonly #level: string;
  /** Lines at or above it make the logger; an unknown (custom) level makes it at the first line. */
  readonly #threshold: number;

  constructor(make: () => FastifyBaseLogger, level: string) {
    this.#make = make;
    this.#level = level;
    this.#threshold = level === 'silent' ? Infinity : (LEVELS[level as LevelName] ?? 0);
  }

  get level(): string {
    return this.#made?.level ?? this.#level;
  }
  set level(to: string) {
    this.#real().level = to;
  }
  child(...args: Parameters<FastifyBaseLogger['child']>): FastifyBaseLogger {
    return this.#real().child(...args);
  }
  fatal(...args: LogArgs): void {
    this.#write('fatal', args);
  }
  error(...args: LogArgs): void {
    this.#write('error', args);
  }
  warn(...args: LogArgs): void {
    this.#write('warn', args);
  }
  info(...args: LogArgs): void {
    this.#write('info', args);
  }
  debug(...args: LogArgs): void {
    this.#write('debug', args);
  }
  trace(...args: LogArgs): void {
    this.#write('trace', args);
  }
  silent(): void {}

  #real(): FastifyBaseLogger {
    return (this.#made ??= this.#make());
  }
  #write(name: LevelName, args: LogArgs): void {
    if (this.#made) this.#made[name](...args);
    else if (LEVELS[name] >= this.#threshold) this.#real()[name](...args);
  }
}
