import { Gauge, type Registry } from 'prom-client';
import type { Queryable } from '../state/index.ts';

const name = 'backup_last_success_timestamp_seconds';

/**
 * The newest successful scripts/backup.sh run, read from backup_runs at each scrape (the script
 * records it there, so every orchestrator replica reports the same value). Before the first success,
 * or while the database cannot be read, there is no sample at all rather than a 0: BackupStale's
 * `absent()` then fires after its `for`, and a 0 would read as "54 years stale" on dashboards.
 */
export function registerBackupMetrics(registry: Registry, db: Queryable, log: { warn(obj: object, msg: string): void }): void {
  let last: number | undefined;
  const Optional = class extends Gauge {
    override async get() {
      const metric = await super.get();
      return last === undefined ? { ...metric, values: [] } : metric;
    }
  };
  new Optional({
    name,
    help: 'Unix time the newest successful backup finished (scripts/backup.sh); no sample before the first',
    registers: [registry],
    async collect() {
      last = undefined;
      try {
        const rows = await db.query<{ ts: number | string | null }>(
          `SELECT extract(epoch FROM max(finished_at))::float8 AS ts FROM backup_runs WHERE status = 'succeeded'`,
        );
        if (rows[0]?.ts != null) last = Number(rows[0].ts);
      } catch (err) {
        log.warn({ err }, `${name}: could not read backup_runs`);
      }
      if (last !== undefined) this.set(last);
    },
  });
}
