import { api } from './client.ts';

export const runsUsage = `  agentic-mesh runs                   the newest runs: id, status, created, how long, what
      [--status failed] [--search text] [--schedule <name>] [--limit 20]`;

export interface RunsFlags {
  status?: string | undefined;
  search?: string | undefined;
  schedule?: string | undefined;
  limit?: string | undefined;
}

interface Summary {
  task_id: string;
  status: string;
  description: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  step_ids?: string[];
  schedule?: { name: string; tick: string | null } | null;
  error?: { code?: string; message?: string } | null;
}

function took(t: Summary): string {
  if (!t.started_at || !t.finished_at) return '-';
  const ms = new Date(t.finished_at).getTime() - new Date(t.started_at).getTime();
  return ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

function line(t: Summary): string {
  const what = t.description ?? (t.step_ids?.length ? `plan: ${t.step_ids.join(' -> ')}` : '');
  const from = t.schedule ? `  [schedule ${t.schedule.name}]` : '';
  const why = t.error?.message ? `\n    ${t.error.code ? `${t.error.code}: ` : ''}${t.error.message}` : '';
  return `${t.task_id}  ${t.status.padEnd(9)}  ${t.created_at}  ${took(t).padStart(8)}  ${what}${from}${why}`;
}

/** `agentic-mesh runs`: GET /tasks, newest first; the orchestrator checks the filters and names a bad one. */
export async function runsCommand(url: string, flags: RunsFlags): Promise<number> {
  const query = new URLSearchParams({ limit: flags.limit ?? '20' });
  if (flags.status) query.set('status', flags.status);
  if (flags.search) query.set('q', flags.search);
  if (flags.schedule) query.set('schedule', flags.schedule);
  const page = (await api(url, 'GET', `/tasks?${query.toString()}`)) as { tasks: Summary[]; next_cursor: string | null };
  if (page.tasks.length === 0) {
    process.stdout.write(flags.status || flags.search || flags.schedule ? 'no runs match\n' : 'no runs yet\n');
    return 0;
  }
  const more = page.next_cursor ? `(newest ${page.tasks.length}; more with --limit, up to 200)\n` : '';
  process.stdout.write(`${page.tasks.map(line).join('\n')}\n${more}`);
  return 0;
}
