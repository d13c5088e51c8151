import type { FastifyRequest } from 'fastify';
import { AppError } from '../../errors/index.ts';
import { store, type WorkflowRow } from '../../state/index.ts';
import type { OrchestratorContext } from '../context.ts';

/**
 * API_KEY_OWNERSHIP=on: a key reads and acts on the tasks it submitted, and no others, unless it
 * has the admin scope. Another key's task is "not found", exactly like one that does not exist, so
 * a key learns nothing of what others run.
 */
export function ownershipFor(ctx: Pick<OrchestratorContext, 'config' | 'db'>) {
  const on = ctx.config.auth.ownership && ctx.config.auth.mode === 'keys';

  /** The key a request acts as, when ownership limits it; undefined: it sees everything. */
  const limitedTo = (request: FastifyRequest): string | undefined => {
    const p = request.principal;
    return on && p && !p.scopes.includes('admin') ? p.id : undefined;
  };

  return {
    /** Who owns what this request submits (recorded whenever a key submits). */
    submitter: (request: FastifyRequest): string | undefined => request.principal?.id,
    limitedTo,
    /** Scopes an Idempotency-Key to the key that sends it, so two keys never meet on one. */
    idempotencyKey: (request: FastifyRequest, key: string | undefined): string | undefined => {
      const owner = limitedTo(request);
      return key !== undefined && owner ? `${owner}/${key}` : key;
    },
    /** The task, if this request may see it; TASK_NOT_FOUND otherwise. */
    async visible(request: FastifyRequest, id: string): Promise<WorkflowRow> {
      const wf = await store.getWorkflow(ctx.db, id);
      const owner = limitedTo(request);
      if (!wf || (owner !== undefined && wf.submitted_by !== owner))
        throw new AppError('TASK_NOT_FOUND', `task ${id} not found`, { details: { task_id: id } });
      return wf;
    },
  };
}

export type Ownership = ReturnType<typeof ownershipFor>;
