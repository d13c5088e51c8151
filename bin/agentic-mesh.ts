#!/usr/bin/env node
import { enableCompileCache } from 'node:module';

// V8 keeps the compiled code of every module it loads below between runs (in NODE_COMPILE_CACHE,
// or a directory under the system's temporary one): a start loads its code in about half the
// time. A cache that cannot be written only means the next start compiles again.
enableCompileCache();
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
