import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The project's own Markdown: README, docs/, each agent's README and the engine's design notes. */
export async function readProjectDocs(): Promise<Array<{ source: string; content: string }>> {
  const paths = ['README.md', 'services/orchestrator/engine/ARCHITECTURE.md'];
  for (const dir of ['docs', 'agents']) {
    const entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true }).catch(() => []);
    for (const e of entries) if (e.isFile() && e.name.endsWith('.md')) paths.push(relative(root, join(e.parentPath, e.name)));
  }
  const docs = await Promise.all(
    [...new Set(paths)].sort().map(async (source) => ({ source, content: await readFile(join(root, source), 'utf8').catch(() => '') })),
  );
  return docs.filter((d) => d.content.trim() !== '');
}
