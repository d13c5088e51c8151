import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { canonicalJson } from '../../protocol/index.ts';
import { scheduleStore } from '../../state/index.ts';
import type { OrchestratorContext } from '../context.ts';
import type { NamedWorkflow } from '../workflow-library.ts';
import { changeSchedule, createSchedule } from './schedule-service.ts';
import { defaultCatchUp, defaultOverlap, type ScheduleSpec } from './definition.ts';

/**
 * Writes the schedules the workflow files declare. A file's schedule is rewritten only when its
 * declaration changed since it was last written, so a pause through the API lasts until someone
 * edits the file, and then the file wins. A schedule that left the files is deleted.
 */
export async function syncFileSchedules(
  ctx: Pick<OrchestratorContext, 'workflows' | 'engine' | 'db'>,
  workflows: ReadonlyMap<string, NamedWorkflow>,
  log: FastifyBaseLogger,
): Promise<void> {
  const declared = new Set<string>();
  for (const wf of workflows.values()) {
    for (const { name, ...rest } of wf.schedules) {
      declared.add(name);
      // Every field spelled out, so a field left out of the file means its default, not what the API last set.
      const spec: ScheduleSpec = {
        cron: rest.cron,
        timezone: rest.timezone ?? 'UTC',
        workflow: wf.name,
        input: rest.input ?? {},
        overlap: rest.overlap ?? defaultOverlap,
        catch_up: rest.catch_up ?? defaultCatchUp,
        enabled: rest.enabled ?? true,
      };
      const hash = createHash('sha256').update(canonicalJson(spec)).digest('base64url');
      const existing = await scheduleStore.getSchedule(ctx.db, name);
      if (!existing) {
        // Two replicas starting together may both get here: the second finds the name taken, which is fine.
        await createSchedule(ctx, name, spec, { source: 'file', definitionHash: hash }).catch((err: { code?: string }) => {
          if (err.code !== 'SCHEDULE_EXISTS') throw err;
        });
        log.info({ schedule: name, workflow: wf.name, file: wf.file }, 'schedule from a workflow file created');
      } else if (existing.definition_hash !== hash || existing.source !== 'file') {
        await changeSchedule(ctx, name, spec, { definitionHash: hash, source: 'file' });
        log.info({ schedule: name, workflow: wf.name, file: wf.file }, 'schedule from a workflow file changed: the file wins');
      }
    }
  }
  for (const s of await scheduleStore.listSchedules(ctx.db, 'file')) {
    if (declared.has(s.name)) continue;
    await scheduleStore.deleteSchedule(ctx.db, s.name);
    log.info({ schedule: s.name }, 'schedule no longer declared in any workflow file: deleted');
  }
}
