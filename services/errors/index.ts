// The platform's errors: a stable string code, an HTTP status, and whether trying again can help.
// Retry and circuit-breaker decisions read `retryable`, never the message. Every code is listed in
// docs/ERRORS.md (tests/unit/errors.test.ts keeps the two in step).

export const errorCodes = {
  CONFIG_INVALID: { statusCode: 500, retryable: false },
  VALIDATION_FAILED: { statusCode: 400, retryable: false },
  INVALID_JSON: { statusCode: 400, retryable: false },
  INVALID_TEXT: { statusCode: 400, retryable: false },
  TOO_DEEP: { statusCode: 400, retryable: false },
  BAD_URL: { statusCode: 400, retryable: false },
  BAD_REQUEST: { statusCode: 400, retryable: false },
  URI_TOO_LONG: { statusCode: 414, retryable: false },
  HEADERS_TOO_LARGE: { statusCode: 431, retryable: false },
  REQUEST_TIMEOUT: { statusCode: 408, retryable: true },
  BODY_TOO_LARGE: { statusCode: 413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { statusCode: 415, retryable: false },
  UNAUTHORIZED: { statusCode: 401, retryable: false },
  FORBIDDEN: { statusCode: 403, retryable: false },
  RATE_LIMITED: { statusCode: 429, retryable: true },
  API_KEY_NOT_FOUND: { statusCode: 404, retryable: false },
  INVALID_PLAN: { statusCode: 400, retryable: false },
  UNPLANNABLE: { statusCode: 422, retryable: false },
  TASK_NOT_FOUND: { statusCode: 404, retryable: false },
  SCHEDULE_NOT_FOUND: { statusCode: 404, retryable: false },
  SCHEDULE_EXISTS: { statusCode: 409, retryable: false },
  ROUTE_NOT_FOUND: { statusCode: 404, retryable: false },
  WORKFLOW_FINISHED: { statusCode: 409, retryable: false },
  WORKFLOW_BUSY: { statusCode: 409, retryable: true },
  WORKFLOW_NOT_PLANNED: { statusCode: 409, retryable: false },
  AGENT_UNAVAILABLE: { statusCode: 503, retryable: true },
  AGENT_ERROR: { statusCode: 502, retryable: true },
  AGENT_TASK_FAILED: { statusCode: 422, retryable: false },
  AGENT_INPUT_INVALID: { statusCode: 400, retryable: false },
  IDEMPOTENCY_CONFLICT: { statusCode: 409, retryable: false },
  STEP_TIMEOUT: { statusCode: 504, retryable: true },
  CIRCUIT_OPEN: { statusCode: 503, retryable: true },
  STEPS_FAILED: { statusCode: 424, retryable: false },
  BRANCH_FAILED: { statusCode: 424, retryable: false },
  BRANCH_LIMIT_REACHED: { statusCode: 424, retryable: false },
  APPROVAL_EXPIRED: { statusCode: 424, retryable: false },
  APPROVAL_REJECTED: { statusCode: 424, retryable: false },
  BUDGET_EXCEEDED: { statusCode: 424, retryable: false },
  CANCELLED: { statusCode: 409, retryable: false },
  LEASE_LOST: { statusCode: 409, retryable: false },
  LLM_UNAVAILABLE: { statusCode: 503, retryable: false },
  LLM_ERROR: { statusCode: 502, retryable: true },
  LLM_OUTPUT_INVALID: { statusCode: 502, retryable: false },
  SHUTTING_DOWN: { statusCode: 503, retryable: true },
  STARTING: { statusCode: 503, retryable: true },
  DATABASE_UNAVAILABLE: { statusCode: 503, retryable: true },
  INTERNAL: { statusCode: 500, retryable: true },
} as const satisfies Record<string, { statusCode: number; retryable: boolean }>;

export type ErrorCode = keyof typeof errorCodes;

export interface AppErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  retryable?: boolean;
  statusCode?: number;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.statusCode = options.statusCode ?? errorCodes[code].statusCode;
    this.retryable = options.retryable ?? errorCodes[code].retryable;
    this.details = options.details;
  }

  toJSON(): SerializedError {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export class ConfigError extends AppError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'ConfigError';
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super('TASK_NOT_FOUND', `${what} ${id} not found`, { details: { id } });
  }
}

/** The shape in which errors are stored in step rows, events and agent responses. */
export interface SerializedError {
  code: string;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof AppError) return err.toJSON();
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', message, retryable: true };
}

export function errorFromSerialized(e: SerializedError): AppError {
  const code = (e.code in errorCodes ? e.code : 'AGENT_ERROR') as ErrorCode;
  return new AppError(code, e.message, { retryable: e.retryable, ...(e.details ? { details: e.details } : {}) });
}
