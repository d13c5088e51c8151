// `npm run build` emits JavaScript only; the SQL migrations, named workflows and proto files travel beside it.
import { cp } from 'node:fs/promises';

const copies = ['services/state/migrations/', 'services/orchestrator/workflows/', 'proto/'];
for (const dir of copies) {
  await cp(new URL(`../${dir}`, import.meta.url), new URL(`../dist/${dir}`, import.meta.url), { recursive: true });
}
