#!/usr/bin/env node
import { main, reportError } from '../services/cli/index.ts';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(reportError(err)),
);
