// npm's postinstall: makes the initialised, migrated PGlite data directory that `npm start` copies
// on its first start instead of running initdb (services/state/pglite-adapter.ts). Never fails the
// install: without a template the first start runs initdb, as it always could.
import { ensurePgliteTemplate } from '../services/state/index.ts';

// A production install (npm ci --omit=dev) runs on Postgres and has no use for it.
if (process.env.npm_config_omit?.includes('dev') || process.env.NODE_ENV === 'production') {
  process.stdout.write('agentic-mesh: no embedded database template in a production install\n');
} else {
  await ensurePgliteTemplate().then(
    (what) => process.stdout.write(`agentic-mesh: embedded database template: ${what}\n`),
    (err: unknown) =>
      process.stdout.write(
        `agentic-mesh: no embedded database template (${(err as Error).message}); the first npm start will initialise its database itself\n`,
      ),
  );
}
