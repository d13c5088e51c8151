import { useState } from 'react';
import { Link, useSearchParams } from 'wouter';
import { api, messageOf, tasksQuery } from '../api.ts';
import { clip, errorText, span, took, when } from '../format.ts';
import type { TaskPage, TaskStatus, TaskSummary } from '../types.ts';
import { usePoll } from '../usePoll.ts';
import { StatusBadge } from '../StatusBadge.tsx';

const statuses: TaskStatus[] = ['planned', 'scheduled', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'];
// Polled: one bounded request (a page of 20) every few seconds shows new and finished runs.
const refreshMs = 3_000;

export function RunsPage() {
  // The schedules page links here with ?schedule=<name>: the runs that schedule started. Another
  // schedule, or all runs, is a list of its own: its filters and pages start afresh.
  const [params] = useSearchParams();
  const schedule = params.get('schedule');
  return <RunsList key={schedule ?? ''} schedule={schedule} />;
}

function RunsList({ schedule }: { schedule: string | null }) {
  const [status, setStatus] = useState<TaskStatus | ''>('');
  const [search, setSearch] = useState('');
  // The cursors of the pages before this one: Newer pops, Older pushes.
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const [page, setPage] = useState<TaskPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const cursor = cursors.at(-1) ?? null;

  usePoll(
    async (signal) => {
      try {
        setPage(await api<TaskPage>(tasksQuery({ status, q: search, schedule, cursor }), { signal }));
        setError(null);
      } catch (err) {
        if (!signal.aborted) setError(messageOf(err));
      }
    },
    refreshMs,
    [status, search, schedule, cursor],
  );

  const filter = (apply: () => void) => {
    apply();
    setCursors([null]);
  };

  return (
    <section>
      <h1>Runs</h1>
      {schedule && (
        <p className="filter-note">
          Started by the schedule <strong>{schedule}</strong> · <Link href="/">all runs</Link>
        </p>
      )}
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="run-status">Status</label>
        <select id="run-status" value={status} onChange={(e) => filter(() => setStatus(e.target.value as TaskStatus | ''))}>
          <option value="">any</option>
          {statuses.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <label htmlFor="run-search">Description contains</label>
        <input id="run-search" type="search" value={search} onChange={(e) => filter(() => setSearch(e.target.value))} />
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {page && page.tasks.length === 0 && <p>No runs{status || search || schedule ? ' match' : ' yet: submit one'}.</p>}
      {page && page.tasks.length > 0 && (
        <table className="runs">
          <caption className="visually-hidden">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Took</th>
            </tr>
          </thead>
          <tbody>
            {page.tasks.map((t) => (
              <tr key={t.task_id} data-task-id={t.task_id}>
                <td>
                  <Link href={`/runs/${t.task_id}`}>{label(t)}</Link>
                  {t.schedule && (
                    <div className="muted">
                      schedule <Link href={`/?schedule=${encodeURIComponent(t.schedule.name)}`}>{t.schedule.name}</Link>
                    </div>
                  )}
                </td>
                <td>
                  <StatusBadge status={t.status} />
                  {t.error != null && (
                    <div className="muted run-error" title={errorText(t.error)}>
                      {clip(errorText(t.error), 140)}
                    </div>
                  )}
                </td>
                <td>{when(t.created_at)}</td>
                <td>{took(span(t.started_at, t.finished_at))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer
        </button>
        <button
          type="button"
          disabled={!page?.next_cursor}
          onClick={() => page?.next_cursor && setCursors((c) => [...c, page.next_cursor])}
        >
          Older
        </button>
      </div>
    </section>
  );
}

/** A run by its description; one sent as a plan by its steps ("plan: build → sign-off → ci"); else its id. */
function label(t: TaskSummary): string {
  if (t.description) return t.description;
  return t.step_ids?.length ? clip(`plan: ${t.step_ids.join(' → ')}`, 120) : t.task_id;
}
