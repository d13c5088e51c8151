// Preloaded with `node --import` by tests/integration/role-imports.test.ts: records every file the
// process loads, by import and by require alike, and writes the list to LOADS_FILE when it exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const loaded = new Set<string>();
registerHooks({
  load(url, context, nextLoad) {
    loaded.add(url);
    return nextLoad(url, context);
  },
});
process.on('exit', () => {
  if (process.env.LOADS_FILE) writeFileSync(process.env.LOADS_FILE, JSON.stringify([...loaded]));
});
