import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorCode } from '../errors/index.ts';

export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  details?: Record<string, unknown>;
}

// Fastify's own errors carry FST_ codes; callers get ours, with the same status.
function normalize(err: FastifyError | AppError | Error, bodyLimit: number): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    return new AppError('VALIDATION_FAILED', fe.message, { details: { errors: fe.validation.map((v) => ({ path: v.instancePath, message: v.message })) } });
  }
  const mapping: Record<string, ErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
    FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  };
  const code = fe.code ? mapping[fe.code] : undefined;
  if (code === 'BODY_TOO_LARGE') return new AppError(code, `request body is larger than the limit of ${bodyLimit} bytes`);
  if (code) return new AppError(code, fe.message);
  if (err instanceof SyntaxError && fe.statusCode === 400) return new AppError('INVALID_JSON', `body is not valid JSON: ${err.message}`);
  if (fe.statusCode && fe.statusCode < 500) {
    return new AppError('VALIDATION_FAILED', fe.message, { statusCode: fe.statusCode });
  }
  return new AppError('INTERNAL', 'internal error', { cause: err });
}

export function errorBody(err: AppError): ErrorBody {
  return {
    statusCode: err.statusCode,
    code: err.code,
    error: STATUS_CODES[err.statusCode] ?? 'Error',
    message: err.message,
    ...(err.details ? { details: err.details } : {}),
  };
}

/** One error shape for every route: {statusCode, code, error, message, details?}. */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    const bodyLimit = app.initialConfig.bodyLimit ?? 1_048_576;
    app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
      const appErr = normalize(err, bodyLimit);
      if (appErr.statusCode >= 500) request.log.error({ err }, appErr.message);
      void reply.status(appErr.statusCode).send(errorBody(appErr));
    });
    app.setNotFoundHandler((request, reply) => {
      const err = new AppError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
      void reply.status(404).send(errorBody(err));
    });
  },
  { name: 'agentic-mesh-errors' },
);
