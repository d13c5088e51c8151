// `npm run build` emits JavaScript only; the SQL migrations, named workflows, price table, proto files and the
// run viewer's bundle (built by Vite just before) travel beside it.
import { cp } from 'node:fs/promises';

const copies = [
  'services/state/migrations/',
  'services/orchestrator/workflows/',
  'services/orchestrator/usage/prices.yaml',
  'proto/',
  'services/orchestrator/ui/dist/',
];
for (const dir of copies) {
  await cp(new URL(`../${dir}`, import.meta.url), new URL(`../dist/${dir}`, import.meta.url), { recursive: true });
}
