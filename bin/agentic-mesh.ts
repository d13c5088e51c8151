#!/usr/bin/env node
// Tracing starts, when it is on, before Fastify, pg and the rest load (its instrumentations hook
// them as they load), so the CLI is imported only once that is done.
await import('../services/telemetry/tracing-bootstrap.ts');
const { main, reportError } = await import('../services/cli/index.ts');
const { stopTracing } = await import('../services/telemetry/index.ts');

main(process.argv.slice(2)).then(
  async (code) => {
    await stopTracing();
    process.exit(code);
  },
  async (err: unknown) => {
    const code = reportError(err);
    await stopTracing();
    process.exit(code);
  },
);
