#!/usr/bin/env node
import '../services/telemetry/tracing-bootstrap.ts';
import { main, reportError } from '../services/cli/index.ts';
import { stopTracing } from '../services/telemetry/index.ts';

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
