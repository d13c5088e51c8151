import { AppError } from '../../services/errors/index.ts';

/** The input cannot be worked on: retrying the same input will not help. */
export class TaskFailedError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('AGENT_TASK_FAILED', message, details ? { details } : {});
    this.name = 'TaskFailedError';
  }
}
