// `npm run build` emits JavaScript only; the SQL migrations travel beside it.
import { cp } from 'node:fs/promises';

await cp(new URL('../services/state/migrations/', import.meta.url), new URL('../dist/services/state/migrations/', import.meta.url), { recursive: true });
